using System.Buffers;
using System.Text;
using System.Text.Json;

namespace MimoSharp.Text;

/// <summary>
/// A Hugging Face tokenizer.json of the kind the Qwen/MiMo family ships: byte-level BPE behind the Qwen2
/// pre-tokenizer split, an optional NFC normalizer, added tokens matched before everything else, and the
/// byte-level decoder. Ids equal the reference (Rust) tokenizers'. Thread-safe once built.
/// </summary>
public sealed class Tokenizer
{
    private readonly string[] _tokens;             // id -> token string as stored in the file
    private readonly byte[] _tokenBytes;            // decoded bytes of every token, back to back
    private readonly int[] _tokenOffsets;           // id -> start in _tokenBytes; length id+1
    private readonly bool[] _isSpecial;
    private readonly Dictionary<string, int> _ids;
    private readonly BytePairEncoder _bpe;
    private readonly bool _nfc;
    private readonly AddedTokenMatcher _rawAddedTokens;        // normalized: false — matched on the input
    private readonly AddedTokenMatcher _normalizedAddedTokens;  // normalized: true — matched after NFC

    internal Tokenizer(TokenizerDefinition definition)
    {
        _tokens = definition.Tokens;
        _ids = definition.Ids;
        _nfc = definition.Nfc;
        AddedTokens = definition.AddedTokens;
        _bpe = new BytePairEncoder(definition.ByteToId, definition.MergeRank, definition.MergeResult);
        _rawAddedTokens = new AddedTokenMatcher(AddedTokens.Where(t => !t.Normalized));
        _normalizedAddedTokens = new AddedTokenMatcher(AddedTokens.Where(t => t.Normalized));
        _isSpecial = new bool[_tokens.Length];
        foreach (AddedToken token in AddedTokens) _isSpecial[token.Id] = token.Special;

        _tokenOffsets = new int[_tokens.Length + 1];
        var bytes = new List<byte>(_tokens.Length * 8);
        for (int id = 0; id < _tokens.Length; id++)
        {
            _tokenOffsets[id] = bytes.Count;
            AppendDecodedBytes(_tokens[id] ?? "", bytes);
        }
        _tokenOffsets[_tokens.Length] = bytes.Count;
        _tokenBytes = bytes.ToArray();
    }

    /// <summary>Loads a tokenizer.json file.</summary>
    public static Tokenizer FromFile(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"Tokenizer file '{path}' does not exist.", path);
        return FromJson(File.ReadAllBytes(path), path);
    }

    /// <summary>Loads tokenizer.json content; <paramref name="sourceName"/> names it in error messages.</summary>
    public static Tokenizer FromJson(ReadOnlySpan<byte> utf8Json, string sourceName) =>
        new(TokenizerDefinition.Parse(utf8Json, sourceName));

    /// <summary>Number of ids: the BPE vocabulary plus the added tokens (largest id + 1).</summary>
    public int VocabSize => _tokens.Length;

    public IReadOnlyList<AddedToken> AddedTokens { get; }

    /// <summary>
    /// Encodes text. With <paramref name="parseSpecial"/> (the reference's behaviour) every added token found
    /// in the text — special or not, e.g. <c>&lt;|im_end|&gt;</c> and <c>&lt;think&gt;</c> — becomes its id;
    /// without it, added tokens are ordinary text, which is what untrusted user text should get.
    /// </summary>
    public int[] Encode(string text, bool parseSpecial = true)
    {
        var ids = new List<int>(text.Length / 3 + 4);
        Encode(text, ids, parseSpecial);
        return ids.ToArray();
    }

    /// <summary>Appends the ids of <paramref name="text"/> to <paramref name="output"/>.</summary>
    public void Encode(string text, List<int> output, bool parseSpecial = true)
    {
        ArgumentNullException.ThrowIfNull(text);
        ArgumentNullException.ThrowIfNull(output);
        text = ReplaceLoneSurrogates(text);
        if (!parseSpecial || _rawAddedTokens.IsEmpty)
        {
            EncodeNormalizing(text, output, parseSpecial);
            return;
        }
        int pos = 0;
        while (_rawAddedTokens.TryFindNext(text, pos, out int start, out int end, out AddedToken token))
        {
            if (start > pos) EncodeNormalizing(text[pos..start], output, parseSpecial);
            output.Add(token.Id);
            pos = end;
        }
        if (pos < text.Length) EncodeNormalizing(text[pos..], output, parseSpecial);
    }

    private void EncodeNormalizing(string segment, List<int> output, bool parseSpecial)
    {
        // ICU's NFC, the normalizer tokenizer.json names; text already in NFC (nearly all of it) is used as it is.
        string normalized = _nfc && !segment.IsNormalized(NormalizationForm.FormC) ? segment.Normalize(NormalizationForm.FormC) : segment;
        if (!parseSpecial || _normalizedAddedTokens.IsEmpty)
        {
            EncodeOrdinary(normalized, output);
            return;
        }
        int pos = 0;
        while (_normalizedAddedTokens.TryFindNext(normalized, pos, out int start, out int end, out AddedToken token))
        {
            EncodeOrdinary(normalized.AsSpan(pos, start - pos), output);
            output.Add(token.Id);
            pos = end;
        }
        EncodeOrdinary(normalized.AsSpan(pos), output);
    }

    private void EncodeOrdinary(ReadOnlySpan<char> text, List<int> output)
    {
        while (!text.IsEmpty)
        {
            int length = QwenPreTokenizer.NextPieceLength(text);
            _bpe.EncodePiece(text[..length], output);
            text = text[length..];
        }
    }

    /// <summary>
    /// Decodes ids to text: token bytes are concatenated and read as UTF-8, invalid sequences becoming U+FFFD
    /// as in the reference. Added tokens decode to their content unless <paramref name="skipSpecial"/> drops
    /// the special ones.
    /// </summary>
    public string Decode(ReadOnlySpan<int> ids, bool skipSpecial = false)
    {
        var bytes = new ArrayBufferWriter<byte>(ids.Length * 4 + 16);
        foreach (int id in ids)
        {
            if (skipSpecial && IsSpecial(id)) continue;
            bytes.Write(TokenBytes(id));
        }
        return Encoding.UTF8.GetString(bytes.WrittenSpan);
    }

    /// <summary>The raw bytes a token stands for (a piece of UTF-8, possibly not a whole character).</summary>
    public ReadOnlySpan<byte> TokenBytes(int id)
    {
        if ((uint)id >= (uint)_tokens.Length || _tokens[id] is null)
            throw new ArgumentOutOfRangeException(nameof(id), id, $"Token id {id} is not in this tokenizer's vocabulary of {_tokens.Length} ids.");
        return _tokenBytes.AsSpan(_tokenOffsets[id], _tokenOffsets[id + 1] - _tokenOffsets[id]);
    }

    /// <summary>True for added tokens marked special (control tokens such as &lt;|im_end|&gt;).</summary>
    public bool IsSpecial(int id) => (uint)id < (uint)_isSpecial.Length && _isSpecial[id];

    /// <summary>The token string as stored in tokenizer.json (byte-level alphabet for BPE tokens).</summary>
    public string? IdToToken(int id) => (uint)id < (uint)_tokens.Length ? _tokens[id] : null;

    /// <summary>The id of a token string as stored in tokenizer.json, if present.</summary>
    public bool TryGetId(string token, out int id) => _ids.TryGetValue(token, out id);

    /// <summary>The id of a token string, or an error naming it.</summary>
    public int GetId(string token) => _ids.TryGetValue(token, out int id) ? id
        : throw new KeyNotFoundException($"Token '{token}' is not in the tokenizer's vocabulary.");

    /// <summary>A decoder for ids arriving one at a time that only ever emits whole characters.</summary>
    public StreamingDecoder CreateStreamingDecoder(bool skipSpecial = false) => new(this, skipSpecial);

    // The reference's byte-level decoder: a token whose every char is in the byte alphabet stands for those
    // bytes; any other token (an added token containing a space, say) stands for its own UTF-8.
    private static void AppendDecodedBytes(string token, List<byte> output)
    {
        foreach (char c in token)
        {
            if (ByteLevelAlphabet.ToByte(c) < 0)
            {
                output.AddRange(Encoding.UTF8.GetBytes(token));
                return;
            }
        }
        foreach (char c in token) output.Add((byte)ByteLevelAlphabet.ToByte(c));
    }

    // A .NET string can hold unpaired surrogates, which no UTF-8 text can; they become U+FFFD, exactly what
    // encoding them to UTF-8 would give.
    private static string ReplaceLoneSurrogates(string text)
    {
        int first = text.AsSpan().IndexOfAnyInRange('\uD800', '\uDFFF');
        if (first < 0) return text;
        var sb = new StringBuilder(text.Length);
        sb.Append(text, 0, first);
        for (int i = first; i < text.Length; i++)
        {
            char c = text[i];
            if (char.IsHighSurrogate(c) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]))
            {
                sb.Append(c).Append(text[++i]);
            }
            else if (char.IsSurrogate(c))
            {
                sb.Append('\uFFFD');
            }
            else
            {
                sb.Append(c);
            }
        }
        return sb.ToString();
    }
}

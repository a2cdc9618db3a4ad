using System.Text;

namespace MimoSharp.Text;

/// <summary>
/// Turns ids arriving one at a time into text without ever emitting part of a character: a token can end in
/// the middle of a UTF-8 sequence (emoji and CJK often span tokens), so trailing incomplete bytes wait for the
/// next token. Bytes that can never complete become U+FFFD, as in <see cref="Tokenizer.Decode"/>.
/// Not thread-safe; use one per generation stream.
/// </summary>
public sealed class StreamingDecoder
{
    private readonly Tokenizer _tokenizer;
    private readonly bool _skipSpecial;
    private readonly Decoder _utf8 = new UTF8Encoding(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: false).GetDecoder();
    private char[] _chars = new char[64];

    internal StreamingDecoder(Tokenizer tokenizer, bool skipSpecial)
    {
        _tokenizer = tokenizer;
        _skipSpecial = skipSpecial;
    }

    /// <summary>Adds one id; returns the text it completes (often empty mid-character, never a partial character).</summary>
    public string Push(int id)
    {
        if (_skipSpecial && _tokenizer.IsSpecial(id)) return "";
        return Convert(_tokenizer.TokenBytes(id), flush: false);
    }

    /// <summary>Adds several ids; returns the text they complete.</summary>
    public string Push(ReadOnlySpan<int> ids)
    {
        var sb = new StringBuilder();
        foreach (int id in ids) sb.Append(Push(id));
        return sb.ToString();
    }

    /// <summary>Ends the stream: bytes still waiting for a continuation come out as U+FFFD.</summary>
    public string Flush() => Convert(ReadOnlySpan<byte>.Empty, flush: true);

    private string Convert(ReadOnlySpan<byte> bytes, bool flush)
    {
        int needed = _utf8.GetCharCount(bytes, flush);
        if (needed > _chars.Length) _chars = new char[Math.Max(needed, _chars.Length * 2)];
        int written = _utf8.GetChars(bytes, _chars, flush);
        return written == 0 ? "" : new string(_chars, 0, written);
    }
}

using System.Security.Cryptography;
using MimoSharp.Text;

namespace MimoSharp.Training.Data;

/// <summary>
/// Tokenizes a folder of UTF-8 text files into train and held-out shards. Each file is one source; its last
/// <c>heldoutFraction</c> (cut at a line break) goes to the held-out split, so every source is represented in
/// both. Inside a file, a line holding only a form feed (\f) separates documents; every document ends with the
/// end-of-text token. Added tokens written in the text (<c>&lt;|im_start|&gt;</c>, <c>&lt;|im_end|&gt;</c>…) stay
/// plain text unless <c>parseSpecialTokens</c> is set, as a chat-format corpus needs; pre-training text that
/// happens to quote them must not teach the model to emit control tokens.
/// </summary>
public static class CorpusPacker
{
    public const string EndOfText = "<|endoftext|>";

    /// <summary>The held-out text itself, beside the shards, for <c>mimo eval --text-file</c>.</summary>
    public const string HeldoutTextFileName = "heldout.txt";

    /// <summary>Each source's held-out text on its own (heldout/SOURCE.txt), for a per-source table of <c>mimo eval</c>.</summary>
    public const string HeldoutSourcesFolderName = "heldout";

    /// <summary>Share of every source kept for held-out evaluation unless told otherwise.</summary>
    public const double DefaultHeldoutFraction = 0.01;

    /// <summary>Tokens per shard file unless told otherwise.</summary>
    public const long DefaultShardTokens = 4_000_000;

    public static CorpusMeta Pack(string inputDirectory, string tokenizerPath, string outputDirectory,
        double heldoutFraction = DefaultHeldoutFraction, long shardTokens = DefaultShardTokens, TextWriter? log = null,
        bool parseSpecialTokens = false)
    {
        if (!Directory.Exists(inputDirectory)) throw new DirectoryNotFoundException($"input folder {inputDirectory} not found");
        if (heldoutFraction is <= 0 or >= 1) throw new ArgumentException($"--heldout must be in (0, 1), got {heldoutFraction}");
        var files = Directory.GetFiles(inputDirectory, "*.txt").Order(StringComparer.Ordinal).ToArray();
        if (files.Length == 0) throw new FileNotFoundException($"input folder {inputDirectory} has no *.txt files to pack");
        var tokenizer = Tokenizer.FromFile(tokenizerPath);
        if (!tokenizer.TryGetId(EndOfText, out int eos))
            throw new InvalidDataException($"{tokenizerPath} has no {EndOfText} token to separate documents");
        Directory.CreateDirectory(outputDirectory);

        var train = new ShardSink(outputDirectory, "train");
        var heldout = new ShardSink(outputDirectory, "heldout");
        var sources = new List<SourceInfo>();
        using var heldoutText = new StreamWriter(Path.Combine(outputDirectory, HeldoutTextFileName));
        string perSource = Path.Combine(outputDirectory, HeldoutSourcesFolderName);
        Directory.CreateDirectory(perSource);
        foreach (var file in files)
        {
            string text = File.ReadAllText(file).Replace("\r\n", "\n");
            int cut = text.LastIndexOf('\n', Math.Max(0, (int)(text.Length * (1 - heldoutFraction))));
            if (cut <= 0) cut = (int)(text.Length * (1 - heldoutFraction));
            long trainTokens = train.Add(Encode(tokenizer, text[..cut], eos, parseSpecialTokens), shardTokens);
            long heldTokens = heldout.Add(Encode(tokenizer, text[cut..], eos, parseSpecialTokens), shardTokens);
            string held = text[cut..].Replace("\f", "");
            heldoutText.Write(held);
            File.WriteAllText(Path.Combine(perSource, Path.GetFileName(file)), held);
            sources.Add(new SourceInfo(Path.GetFileNameWithoutExtension(file), Path.GetFileName(file), trainTokens, heldTokens));
            log?.WriteLine($"packed {Path.GetFileName(file)}: {trainTokens:N0} train + {heldTokens:N0} held-out tokens");
        }
        var meta = new CorpusMeta
        {
            TokenizerSha256 = Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(tokenizerPath))),
            VocabSize = tokenizer.VocabSize,
            EosTokenId = eos,
            HeldoutFraction = heldoutFraction,
            Train = train.Finish(),
            Heldout = heldout.Finish(),
            Sources = sources,
        };
        File.Copy(tokenizerPath, Path.Combine(outputDirectory, "tokenizer.json"), overwrite: true);
        meta.Save(outputDirectory);
        return meta;
    }

    public const string DocumentSeparator = "\n\f\n";

    private static List<int> Encode(Tokenizer tokenizer, string text, int eos, bool parseSpecial)
    {
        var ids = new List<int>(text.Length / 3);
        foreach (var document in text.Split(DocumentSeparator))
        {
            string trimmed = document.Trim('\n', '\f');
            if (trimmed.Length == 0) continue;
            // Paragraph by paragraph keeps the work per call bounded; the text itself is unchanged.
            bool first = true;
            foreach (var paragraph in trimmed.Split("\n\n"))
            {
                if (!first) tokenizer.Encode("\n\n", ids, parseSpecial: false);
                first = false;
                if (paragraph.Length > 0) tokenizer.Encode(paragraph, ids, parseSpecial);
            }
            ids.Add(eos);
        }
        return ids;
    }

    private sealed class ShardSink(string directory, string split)
    {
        private readonly List<ShardInfo> _shards = [];
        private readonly List<int> _current = [];

        public long Add(List<int> tokens, long shardTokens)
        {
            _current.AddRange(tokens);
            while (_current.Count >= shardTokens) Flush((int)shardTokens);
            return tokens.Count;
        }

        private void Flush(int count)
        {
            string name = $"{split}-{_shards.Count:D5}.bin";
            ShardReader.Write(Path.Combine(directory, name), System.Runtime.InteropServices.CollectionsMarshal.AsSpan(_current)[..count]);
            _shards.Add(new ShardInfo(name, count));
            _current.RemoveRange(0, count);
        }

        public List<ShardInfo> Finish()
        {
            if (_current.Count > 0) Flush(_current.Count);
            return _shards;
        }
    }
}

using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace MimoSharp.Text;

/// <summary>
/// Cuts a byte-level BPE tokenizer down to a small vocabulary without losing the ability to encode any text:
/// the 256 byte tokens and the first N−256 merges keep their ids 0..N−1, and the added tokens follow at
/// N, N+1, … in their original order. A model using the result has vocab_size = N + added tokens.
/// This relies on the file's ids being in merge order (merge i creates id 256+i), which is checked.
/// </summary>
public static class TokenizerTruncation
{
    /// <summary>Reads <paramref name="inputPath"/>, truncates to <paramref name="vocab"/> BPE ids, writes <paramref name="outputPath"/>.</summary>
    public static void TruncateFile(string inputPath, int vocab, string outputPath)
    {
        if (!File.Exists(inputPath)) throw new FileNotFoundException($"Tokenizer file '{inputPath}' does not exist.", inputPath);
        string json = Truncate(File.ReadAllBytes(inputPath), vocab, inputPath);
        File.WriteAllText(outputPath, json);
    }

    /// <summary>Returns tokenizer.json text for the first <paramref name="vocab"/> BPE ids plus the added tokens.</summary>
    public static string Truncate(ReadOnlySpan<byte> utf8Json, int vocab, string sourceName)
    {
        JsonNode root = JsonNode.Parse(utf8Json.ToArray(), documentOptions: new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip })
            ?? throw new InvalidDataException($"Tokenizer file '{sourceName}' is empty JSON.");
        JsonObject model = root["model"] as JsonObject ?? throw Bad(sourceName, "model", "is missing");
        if ((string?)model["type"] != "BPE") throw Bad(sourceName, "model.type", "must be \"BPE\"");
        JsonObject vocabObject = model["vocab"] as JsonObject ?? throw Bad(sourceName, "model.vocab", "is missing");
        JsonArray merges = model["merges"] as JsonArray ?? throw Bad(sourceName, "model.merges", "is missing");

        var idToToken = new Dictionary<int, string>(vocabObject.Count);
        foreach (var (token, idNode) in vocabObject) idToToken[(int)idNode!] = token;
        int bpeSize = idToToken.Count;
        if (vocab < 256 || vocab > bpeSize)
            throw new ArgumentOutOfRangeException(nameof(vocab), vocab, $"--vocab must be between 256 and the file's {bpeSize} BPE tokens.");

        for (int id = 0; id < 256; id++)
        {
            if (!idToToken.TryGetValue(id, out string? token) || token.Length != 1 || ByteLevelAlphabet.ToByte(token[0]) < 0)
                throw Bad(sourceName, "model.vocab", $"id {id} is not a single byte-level byte token; ids 0..255 must be the 256 bytes");
        }
        var keptVocab = new JsonObject();
        for (int id = 0; id < vocab; id++)
        {
            if (!idToToken.TryGetValue(id, out string? token))
                throw Bad(sourceName, "model.vocab", $"has no token with id {id}; ids must be contiguous");
            keptVocab[token] = id;
        }

        var keptMerges = new JsonArray();
        var ids = vocabObject.ToDictionary(p => p.Key, p => (int)p.Value!, StringComparer.Ordinal);
        for (int rank = 0; rank < vocab - 256; rank++)
        {
            JsonNode merge = merges[rank] ?? throw Bad(sourceName, $"model.merges[{rank}]", "is null");
            using var doc = JsonDocument.Parse(merge.ToJsonString());
            (string left, string right) = TokenizerDefinition.ReadMerge(doc.RootElement, rank, sourceName);
            int expected = 256 + rank;
            if (!ids.TryGetValue(left + right, out int result) || result != expected
                || ids.GetValueOrDefault(left, int.MaxValue) >= expected || ids.GetValueOrDefault(right, int.MaxValue) >= expected)
                throw Bad(sourceName, $"model.merges[{rank}]", $"does not create id {expected} from lower ids, so a prefix of the vocabulary is not self-contained");
            keptMerges.Add(merge.DeepClone());
        }
        model["vocab"] = keptVocab;
        model["merges"] = keptMerges;

        if (root["added_tokens"] is JsonArray added)
        {
            var ordered = added.OfType<JsonObject>().OrderBy(t => (int)t["id"]!).ToList();
            for (int i = 0; i < ordered.Count; i++) ordered[i]["id"] = vocab + i;
            var renumbered = new JsonArray();
            foreach (JsonObject token in ordered) renumbered.Add(token.DeepClone());
            root["added_tokens"] = renumbered;
        }
        if (root["post_processor"] is JsonObject post && (string?)post["type"] is not ("ByteLevel" or null))
            throw Bad(sourceName, "post_processor.type", "is not ByteLevel; its token ids would need renumbering, which is not implemented");

        return root.ToJsonString(new JsonSerializerOptions { WriteIndented = true, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping });
    }

    private static InvalidDataException Bad(string source, string path, string problem) =>
        new($"Tokenizer file '{source}': {path} {problem}.");
}

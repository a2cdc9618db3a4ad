using System.Text.Json;

namespace MimoSharp.Text;

/// <summary>
/// What <see cref="Tokenizer"/> needs from tokenizer.json, read and checked. Anything outside the byte-level
/// BPE family we reproduce exactly is refused with the JSON path at fault rather than tokenized differently.
/// </summary>
internal sealed class TokenizerDefinition
{
    public required string[] Tokens { get; init; }
    public required Dictionary<string, int> Ids { get; init; }
    public required int[] ByteToId { get; init; }
    public required Dictionary<long, int> MergeRank { get; init; }
    public required int[] MergeResult { get; init; }
    public required bool Nfc { get; init; }
    public required AddedToken[] AddedTokens { get; init; }

    public static TokenizerDefinition Parse(ReadOnlySpan<byte> utf8Json, string source)
    {
        using JsonDocument document = ParseDocument(utf8Json, source);
        JsonElement root = document.RootElement;

        JsonElement model = Required(root, "model", source);
        string modelType = Str(model, "type", source, "model");
        if (modelType != "BPE") Fail(source, "model.type", $"is '{modelType}'; only byte-level \"BPE\" is supported");
        if (Bool(model, "byte_fallback") || !string.IsNullOrEmpty(OptStr(model, "continuing_subword_prefix"))
            || !string.IsNullOrEmpty(OptStr(model, "end_of_word_suffix")))
            Fail(source, "model", "uses byte_fallback, continuing_subword_prefix or end_of_word_suffix, which byte-level BPE does not");
        if (model.TryGetProperty("dropout", out JsonElement dropout) && dropout.ValueKind == JsonValueKind.Number && dropout.GetDouble() > 0)
            Fail(source, "model.dropout", "is set; BPE dropout is a training-time option and is not supported");
        if (Bool(model, "ignore_merges")) Fail(source, "model.ignore_merges", "is true, which is not supported");

        CheckNormalizer(root, source, out bool nfc);
        CheckPreTokenizer(root, source);
        CheckByteLevel(root, "decoder", source, required: true);
        CheckByteLevel(root, "post_processor", source, required: false);

        var ids = new Dictionary<string, int>(StringComparer.Ordinal);
        int maxId = -1;
        JsonElement vocab = Required(model, "vocab", source);
        if (vocab.ValueKind != JsonValueKind.Object) Fail(source, "model.vocab", "is not an object of token → id");
        foreach (JsonProperty entry in vocab.EnumerateObject())
        {
            int id = Id(entry.Value, source, $"model.vocab[\"{entry.Name}\"]");
            ids[entry.Name] = id;
            maxId = Math.Max(maxId, id);
        }

        var added = new List<AddedToken>();
        if (root.TryGetProperty("added_tokens", out JsonElement addedArray) && addedArray.ValueKind == JsonValueKind.Array)
        {
            int index = 0;
            foreach (JsonElement t in addedArray.EnumerateArray())
            {
                string where = $"added_tokens[{index++}]";
                if (t.ValueKind != JsonValueKind.Object) Fail(source, where, "is not an object");
                if (Bool(t, "single_word")) Fail(source, where + ".single_word", "is true, which is not supported");
                var token = new AddedToken(Id(Required(t, "id", source, where), source, where + ".id"), Str(t, "content", source, where),
                    Bool(t, "special"), Bool(t, "normalized"), Bool(t, "lstrip"), Bool(t, "rstrip"));
                added.Add(token);
                if (ids.TryGetValue(token.Content, out int vocabId) && vocabId != token.Id)
                    Fail(source, where, $"gives '{token.Content}' id {token.Id}, but model.vocab already has it as id {vocabId}");
                ids[token.Content] = token.Id;
                maxId = Math.Max(maxId, token.Id);
            }
        }

        // Ids index an array: a lying id must not become a multi-gigabyte allocation. Real files are dense.
        if (maxId >= 2 * ids.Count + 1024)
            Fail(source, "model.vocab", $"has ids up to {maxId} for {ids.Count} tokens; ids must be (nearly) dense");
        var tokens = new string[maxId + 1];
        foreach (var (token, id) in ids) tokens[id] = token;
        // One id per token and one token per id, or encoding yields ids that decode to other text (or to nothing).
        foreach (var (token, id) in ids)
            if (tokens[id] != token) Fail(source, "model.vocab", $"gives id {id} to both '{token}' and '{tokens[id]}'");
        foreach (var t in added)
            if (tokens[t.Id] != t.Content) Fail(source, "added_tokens", $"gives '{t.Content}' two ids ({t.Id} and {ids[t.Content]})");

        var byteToId = new int[256];
        for (int b = 0; b < 256; b++)
        {
            string symbol = ByteLevelAlphabet.ToChar((byte)b).ToString();
            if (!ids.TryGetValue(symbol, out byteToId[b]))
                Fail(source, "model.vocab", $"lacks the byte-level token '{symbol}' for byte 0x{b:X2}; every byte needs one");
        }

        JsonElement merges = Required(model, "merges", source);
        if (merges.ValueKind != JsonValueKind.Array) Fail(source, "model.merges", "is not an array");
        var mergeRank = BytePairEncoder.CreateMergeDictionary(merges.GetArrayLength());
        var mergeResult = new int[merges.GetArrayLength()];
        int rank = 0;
        foreach (JsonElement merge in merges.EnumerateArray())
        {
            (string left, string right) = ReadMerge(merge, rank, source);
            string where = $"model.merges[{rank}]";
            if (!ids.TryGetValue(left, out int leftId)) Fail(source, where, $"uses '{left}', which is not in model.vocab");
            if (!ids.TryGetValue(right, out int rightId)) Fail(source, where, $"uses '{right}', which is not in model.vocab");
            if (!ids.TryGetValue(left + right, out int resultId)) Fail(source, where, $"produces '{left + right}', which is not in model.vocab");
            // Like the reference, a repeated pair keeps its last rank.
            mergeRank[BytePairEncoder.PairKey(leftId, rightId)] = rank;
            mergeResult[rank] = resultId;
            rank++;
        }

        return new TokenizerDefinition
        {
            Tokens = tokens,
            Ids = ids,
            ByteToId = byteToId,
            MergeRank = mergeRank,
            MergeResult = mergeResult,
            Nfc = nfc,
            AddedTokens = added.ToArray(),
        };
    }

    internal static JsonDocument ParseDocument(ReadOnlySpan<byte> utf8Json, string source)
    {
        // System.Text.Json checks UTF-8 only when a string is read, which would surface as an InvalidOperationException.
        if (!System.Text.Unicode.Utf8.IsValid(utf8Json))
            throw new InvalidDataException($"Tokenizer file '{source}' is not valid UTF-8.");
        try
        {
            var reader = new Utf8JsonReader(utf8Json, new JsonReaderOptions { CommentHandling = JsonCommentHandling.Skip });
            return JsonDocument.ParseValue(ref reader);
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"Tokenizer file '{source}' is not valid JSON: {e.Message}", e);
        }
    }

    internal static (string Left, string Right) ReadMerge(JsonElement merge, int rank, string source)
    {
        // Newer files store ["a", "b"], older ones "a b".
        if (merge.ValueKind == JsonValueKind.Array && merge.GetArrayLength() == 2
            && merge[0].ValueKind == JsonValueKind.String && merge[1].ValueKind == JsonValueKind.String)
            return (merge[0].GetString()!, merge[1].GetString()!);
        if (merge.ValueKind == JsonValueKind.String)
        {
            string text = merge.GetString()!;
            int space = text.IndexOf(' ', 1);
            if (space > 0 && space == text.LastIndexOf(' ')) return (text[..space], text[(space + 1)..]);
        }
        Fail(source, $"model.merges[{rank}]", "is neither [\"left\", \"right\"] nor \"left right\"");
        return default;
    }

    private static void CheckNormalizer(JsonElement root, string source, out bool nfc)
    {
        nfc = false;
        if (!root.TryGetProperty("normalizer", out JsonElement normalizer) || normalizer.ValueKind == JsonValueKind.Null) return;
        string type = Str(normalizer, "type", source, "normalizer");
        if (type == "NFC") { nfc = true; return; }
        int count = ArrayOf(normalizer, "normalizers") is { } list ? list.GetArrayLength() : -1;
        if (type == "Sequence" && count == 0) return;
        if (type == "Sequence" && count == 1 && OptStr(normalizer.GetProperty("normalizers")[0], "type") == "NFC") { nfc = true; return; }
        Fail(source, "normalizer.type", $"is '{type}'; only NFC (or none) is supported");
    }

    private static void CheckPreTokenizer(JsonElement root, string source)
    {
        const string expected = "a Sequence of Split(Qwen2 regex, Isolated) and ByteLevel(use_regex: false, add_prefix_space: false)";
        JsonElement pre = Required(root, "pre_tokenizer", source);
        if (OptStr(pre, "type") != "Sequence" || ArrayOf(pre, "pretokenizers") is not { } steps || steps.GetArrayLength() != 2)
            Fail(source, "pre_tokenizer", "must be " + expected);
        JsonElement split = pre.GetProperty("pretokenizers")[0];
        JsonElement byteLevel = pre.GetProperty("pretokenizers")[1];
        string? pattern = split.ValueKind == JsonValueKind.Object && split.TryGetProperty("pattern", out JsonElement p) ? OptStr(p, "Regex") : null;
        if (OptStr(split, "type") != "Split" || OptStr(split, "behavior") != "Isolated" || Bool(split, "invert"))
            Fail(source, "pre_tokenizer.pretokenizers[0]", "must be " + expected);
        if (pattern != QwenPreTokenizer.Pattern)
            Fail(source, "pre_tokenizer.pretokenizers[0].pattern.Regex", $"is {JsonSerializer.Serialize(pattern)}; only the Qwen2 pattern {JsonSerializer.Serialize(QwenPreTokenizer.Pattern)} is implemented");
        if (OptStr(byteLevel, "type") != "ByteLevel" || Bool(byteLevel, "add_prefix_space") || Bool(byteLevel, "use_regex"))
            Fail(source, "pre_tokenizer.pretokenizers[1]", "must be " + expected);
    }

    private static void CheckByteLevel(JsonElement root, string name, string source, bool required)
    {
        if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty(name, out JsonElement e) || e.ValueKind == JsonValueKind.Null)
        {
            if (required) Fail(source, name, "is missing; a ByteLevel decoder is required");
            return;
        }
        if (OptStr(e, "type") != "ByteLevel") Fail(source, name + ".type", $"is '{OptStr(e, "type")}'; only ByteLevel is supported");
    }

    private static int Id(JsonElement value, string source, string where)
    {
        int id = 0;
        if (value.ValueKind != JsonValueKind.Number || !value.TryGetInt32(out id))
            Fail(source, where, $"is {value.GetRawText()}, not an integer id");
        if (id < 0) Fail(source, where, $"has negative id {id}");
        return id;
    }

    private static JsonElement Required(JsonElement parent, string name, string source, string? where = null)
    {
        JsonElement value = default;
        if (parent.ValueKind != JsonValueKind.Object || !parent.TryGetProperty(name, out value) || value.ValueKind == JsonValueKind.Null)
            Fail(source, where is null ? name : $"{where}.{name}", "is missing");
        return value;
    }

    private static string Str(JsonElement parent, string name, string source, string where) =>
        OptStr(parent, name) ?? throw new InvalidDataException($"Tokenizer file '{source}': {where}.{name} is missing or not a string.");

    private static JsonElement? ArrayOf(JsonElement parent, string name) =>
        parent.ValueKind == JsonValueKind.Object && parent.TryGetProperty(name, out JsonElement value) && value.ValueKind == JsonValueKind.Array ? value : null;

    private static string? OptStr(JsonElement parent, string name) =>
        parent.ValueKind == JsonValueKind.Object && parent.TryGetProperty(name, out JsonElement value) && value.ValueKind == JsonValueKind.String
            ? value.GetString() : null;

    private static bool Bool(JsonElement parent, string name) =>
        parent.ValueKind == JsonValueKind.Object && parent.TryGetProperty(name, out JsonElement value) && value.ValueKind == JsonValueKind.True;

    [System.Diagnostics.CodeAnalysis.DoesNotReturn]
    private static void Fail(string source, string path, string problem) =>
        throw new InvalidDataException($"Tokenizer file '{source}': {path} {problem}.");
}

using System.Text.Json;
using System.Text.Json.Serialization;

namespace MimoSharp.Training.Data;

/// <summary>One packed shard: a file of little-endian uint32 token ids.</summary>
public sealed record ShardInfo(
    [property: JsonPropertyName("file")] string File,
    [property: JsonPropertyName("tokens")] long Tokens);

/// <summary>A text source the corpus was built from, with its licence (recorded by scripts/corpus.sh).</summary>
public sealed record SourceInfo(
    [property: JsonPropertyName("name")] string Name,
    [property: JsonPropertyName("file")] string File,
    [property: JsonPropertyName("train_tokens")] long TrainTokens,
    [property: JsonPropertyName("heldout_tokens")] long HeldoutTokens);

/// <summary><c>meta.json</c> of a packed corpus folder: the tokenizer it was packed with and its train / held-out shards.</summary>
public sealed record CorpusMeta
{
    public const string FileName = "meta.json";

    [JsonPropertyName("format")] public string Format { get; init; } = "mimo-tokens-u32";
    [JsonPropertyName("tokenizer_sha256")] public required string TokenizerSha256 { get; init; }
    [JsonPropertyName("vocab_size")] public required int VocabSize { get; init; }
    [JsonPropertyName("eos_token_id")] public required int EosTokenId { get; init; }
    [JsonPropertyName("heldout_fraction")] public double HeldoutFraction { get; init; }
    [JsonPropertyName("train")] public required List<ShardInfo> Train { get; init; }
    [JsonPropertyName("heldout")] public required List<ShardInfo> Heldout { get; init; }
    [JsonPropertyName("sources")] public List<SourceInfo> Sources { get; init; } = [];

    public long TrainTokens => Train.Sum(s => s.Tokens);
    public long HeldoutTokens => Heldout.Sum(s => s.Tokens);

    public static readonly JsonSerializerOptions Json = new() { WriteIndented = true };

    public static CorpusMeta Load(string directory)
    {
        if (!Directory.Exists(directory))
            throw new FileNotFoundException($"corpus folder {directory} not found (build one with scripts/corpus.sh or mimo corpus pack)");
        string path = Path.Combine(directory, FileName);
        if (!File.Exists(path))
            throw new FileNotFoundException($"{path} not found: {directory} is not a packed corpus (build one with scripts/corpus.sh or mimo corpus pack)");
        try
        {
            return JsonSerializer.Deserialize<CorpusMeta>(File.ReadAllText(path), Json)
                ?? throw new InvalidDataException($"{path} is empty");
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{path} is not a valid corpus meta.json: {e.Message}");
        }
    }

    public void Save(string directory) =>
        File.WriteAllText(Path.Combine(directory, FileName), JsonSerializer.Serialize(this, Json) + "\n");
}

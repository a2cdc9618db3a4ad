using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace MimoSharp.Training.Distillation;

/// <summary>
/// One prompt of a domain's prompt file (JSON Lines, one object per line). <see cref="Answer"/> makes the prompt
/// checkable (exact match of the response's first line: accuracy and the optional outcome reward);
/// <see cref="Reference"/> is a reference continuation whose perplexity scores a model on the domain.
/// </summary>
public sealed record DistillPrompt
{
    [JsonPropertyName("prompt")] public required string Prompt { get; init; }
    [JsonPropertyName("answer")] public string? Answer { get; init; }
    [JsonPropertyName("reference")] public string? Reference { get; init; }

    /// <summary>Most tokens a response may have (the run's --max-tokens when absent).</summary>
    [JsonPropertyName("max_tokens")] public int? MaxTokens { get; init; }

    /// <summary>Strings that end a response (the response is cut before the first one).</summary>
    [JsonPropertyName("stop")] public string[]? Stop { get; init; }

    /// <summary>Reads a prompt file, naming the file and line of anything malformed.</summary>
    public static IReadOnlyList<DistillPrompt> Load(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"prompt file {path} not found");
        var prompts = new List<DistillPrompt>();
        int lineNumber = 0;
        foreach (var line in File.ReadLines(path))
        {
            lineNumber++;
            if (string.IsNullOrWhiteSpace(line)) continue;
            DistillPrompt? p;
            try
            {
                p = JsonSerializer.Deserialize<DistillPrompt>(line);
            }
            catch (JsonException e)
            {
                throw new InvalidDataException($"{path}:{lineNumber}: not a JSON prompt object ({e.Message})");
            }
            if (p is null || string.IsNullOrEmpty(p.Prompt))
                throw new InvalidDataException($"{path}:{lineNumber}: \"prompt\" is missing or empty");
            if (p.MaxTokens is <= 0) throw new InvalidDataException($"{path}:{lineNumber}: \"max_tokens\" must be positive, got {p.MaxTokens}");
            if (p.Stop?.Any(string.IsNullOrEmpty) == true) throw new InvalidDataException($"{path}:{lineNumber}: \"stop\" holds an empty string");
            prompts.Add(p);
        }
        if (prompts.Count == 0) throw new InvalidDataException($"prompt file {path} holds no prompts");
        return prompts;
    }

    public static void Save(string path, IEnumerable<DistillPrompt> prompts)
    {
        var options = new JsonSerializerOptions
        {
            DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
            Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,   // keeps +, <, ' readable in the file
        };
        using var writer = new StreamWriter(path);
        foreach (var p in prompts) writer.WriteLine(JsonSerializer.Serialize(p, options));
    }

    /// <summary>The response text up to (not including) the first stop string.</summary>
    public string CutAtStop(string response)
    {
        int cut = response.Length;
        foreach (var s in Stop ?? [])
        {
            int i = response.IndexOf(s, StringComparison.Ordinal);
            if (i >= 0 && i < cut) cut = i;
        }
        return response[..cut];
    }

    /// <summary>True when the prompt has an answer and the response's text before the stop equals it (trimmed).</summary>
    public bool IsCorrect(string response) => Answer is not null && CutAtStop(response).Trim() == Answer.Trim();
}

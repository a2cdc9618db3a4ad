using System.Text.Json;
using System.Text.Json.Serialization;

namespace MimoSharp.Server.Http.Contracts;

/// <summary>A POST /v1/completions body as the client sent it (OpenAI's legacy completions parameters).</summary>
internal sealed record CompletionParams : GenerationParams
{
    /// <summary>A string, an array of token ids, or a one-element array of either.</summary>
    public JsonElement? Prompt { get; init; }

    public bool? Echo { get; init; }
    public string? Suffix { get; init; }
    [JsonConverter(typeof(IntegerConverter))] public IntegerValue? BestOf { get; init; }
}

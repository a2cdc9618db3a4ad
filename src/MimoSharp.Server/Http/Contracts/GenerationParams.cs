using System.Text.Json;
using System.Text.Json.Serialization;

namespace MimoSharp.Server.Http.Contracts;

/// <summary>
/// The body fields chat and text completions share, as the client sent them: every one optional (absent and
/// JSON null alike are null). Only their JSON kinds are checked on reading; <see cref="RequestValidator"/> checks the rest.
/// </summary>
internal abstract record GenerationParams
{
    public string? Model { get; init; }

    [JsonConverter(typeof(IntegerConverter))] public IntegerValue? N { get; init; }
    [JsonConverter(typeof(FiniteNumberConverter))] public double? PresencePenalty { get; init; }
    [JsonConverter(typeof(FiniteNumberConverter))] public double? FrequencyPenalty { get; init; }
    public bool? Logprobs { get; init; }

    [JsonConverter(typeof(FiniteNumberConverter))] public double? Temperature { get; init; }
    [JsonConverter(typeof(FiniteNumberConverter))] public double? TopP { get; init; }
    [JsonConverter(typeof(IntegerConverter))] public IntegerValue? TopK { get; init; }
    [JsonConverter(typeof(FiniteNumberConverter))] public double? MinP { get; init; }
    [JsonConverter(typeof(FiniteNumberConverter))] public double? RepetitionPenalty { get; init; }
    [JsonConverter(typeof(IntegerConverter))] public IntegerValue? Seed { get; init; }

    /// <summary>The older name of <see cref="MaxCompletionTokens"/>, which most clients still send.</summary>
    [JsonConverter(typeof(IntegerConverter))] public IntegerValue? MaxTokens { get; init; }
    [JsonConverter(typeof(IntegerConverter))] public IntegerValue? MaxCompletionTokens { get; init; }

    public bool? Stream { get; init; }
    public StreamOptionsParam? StreamOptions { get; init; }
    public bool? IgnoreEos { get; init; }

    /// <summary>A string or an array of strings.</summary>
    public JsonElement? Stop { get; init; }
}

/// <summary>stream_options: whether the last chunk carries usage.</summary>
internal sealed record StreamOptionsParam
{
    public bool? IncludeUsage { get; init; }
}

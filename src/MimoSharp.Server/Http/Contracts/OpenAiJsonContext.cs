using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace MimoSharp.Server.Http.Contracts;

/// <summary>
/// The serializer metadata of every request and response body, generated at compile time (no reflection).
/// Names are OpenAI's snake_case; nulls are left out unless a property says otherwise.
/// </summary>
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(ChatCompletionParams))]
[JsonSerializable(typeof(CompletionParams))]
[JsonSerializable(typeof(List<ContentPartParam?>))]
[JsonSerializable(typeof(List<string?>))]
[JsonSerializable(typeof(CompletionBody<ChatChoiceBody>))]
[JsonSerializable(typeof(CompletionBody<ChunkChoiceBody>))]
[JsonSerializable(typeof(CompletionBody<TextChoiceBody>))]
[JsonSerializable(typeof(ModelListBody))]
[JsonSerializable(typeof(ModelBody))]
[JsonSerializable(typeof(ErrorBody))]
[JsonSerializable(typeof(HealthBody))]
internal sealed partial class OpenAiJsonContext : JsonSerializerContext
{
    /// <summary>
    /// The instance to use: text is written as-is rather than \u-escaped (non-ASCII answers stay readable, and
    /// the bodies are JSON, never HTML).
    /// </summary>
    public static OpenAiJsonContext Relaxed { get; } = new(new JsonSerializerOptions
    {
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    });
}

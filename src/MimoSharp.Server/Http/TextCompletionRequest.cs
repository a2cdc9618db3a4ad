using System.Text.Json;
using MimoSharp.Server.Engine;
using MimoSharp.Server.Http.Contracts;

namespace MimoSharp.Server.Http;

/// <summary>A POST /v1/completions body in the engine's terms: one prompt (text or token ids), OpenAI's legacy defaults.</summary>
internal sealed record TextCompletionRequest(CompletionRequest Request, GenerationFields Fields)
{
    /// <summary>OpenAI's default max_tokens for /v1/completions.</summary>
    public const int DefaultMaxTokens = 16;

    /// <summary>Reads and validates a body; every refusal is an <see cref="InvalidRequestException"/> naming its field.</summary>
    public static TextCompletionRequest Parse(JsonElement body, MimoEngine engine) =>
        RequestValidator.Completion(RequestJson.ReadBody(body, OpenAiJsonContext.Relaxed.CompletionParams), engine);
}

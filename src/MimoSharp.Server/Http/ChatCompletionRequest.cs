using System.Text.Json;
using MimoSharp.Server.Engine;
using MimoSharp.Server.Http.Contracts;

namespace MimoSharp.Server.Http;

/// <summary>A POST /v1/chat/completions body in the engine's terms, with the fields that shape the response.</summary>
internal sealed record ChatCompletionRequest(ChatRequest Request, GenerationFields Fields)
{
    /// <summary>Reads and validates a body; every refusal is an <see cref="InvalidRequestException"/> naming its field.</summary>
    public static ChatCompletionRequest Parse(JsonElement body, MimoEngine engine) =>
        RequestValidator.Chat(RequestJson.ReadBody(body, OpenAiJsonContext.Relaxed.ChatCompletionParams), engine);
}

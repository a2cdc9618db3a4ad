using System.Text.Json;
using Microsoft.AspNetCore.Http;
using MimoSharp.Server.Engine;

namespace MimoSharp.Server.Http;

/// <summary>POST /v1/chat/completions: one response object, or SSE chunks when "stream" is true.</summary>
internal sealed class ChatCompletionsEndpoint(MimoEngine engine)
{
    public async Task HandleAsync(HttpContext context, JsonElement body, CancellationToken cancellation)
    {
        var parsed = ChatCompletionRequest.Parse(body, engine);
        var generation = parsed.Fields.Start(() => engine.StartChat(parsed.Request, cancellation));
        var id = OpenAiJson.ResponseId.New("chatcmpl", engine.ModelId);
        if (!parsed.Fields.Stream)
        {
            await foreach (var _ in generation.ReadAsync(cancellation).ConfigureAwait(false)) { }
            context.Response.ContentType = "application/json";
            await context.Response.Body.WriteAsync(OpenAiJson.ChatCompletion(id, generation), cancellation).ConfigureAwait(false);
            return;
        }

        var sse = new SseWriter(context.Response);
        await sse.StartAsync(cancellation).ConfigureAwait(false);
        await sse.DataAsync(OpenAiJson.ChatChunk(id, null, null, role: true), cancellation).ConfigureAwait(false);
        int toolCalls = 0;
        await foreach (var delta in generation.ReadAsync(cancellation).ConfigureAwait(false))
        {
            await sse.DataAsync(OpenAiJson.ChatChunk(id, delta, null, firstToolIndex: toolCalls), cancellation).ConfigureAwait(false);
            toolCalls += delta.ToolCalls.Count;
        }
        await sse.DataAsync(OpenAiJson.ChatChunk(id, null, generation.FinishReason), cancellation).ConfigureAwait(false);
        if (parsed.Fields.IncludeUsage)
            await sse.DataAsync(OpenAiJson.UsageChunk(id, "chat.completion.chunk", generation.Text), cancellation).ConfigureAwait(false);
        await sse.DoneAsync(cancellation).ConfigureAwait(false);
    }
}

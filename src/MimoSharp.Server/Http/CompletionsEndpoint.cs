using System.Text.Json;
using Microsoft.AspNetCore.Http;
using MimoSharp.Server.Engine;

namespace MimoSharp.Server.Http;

/// <summary>POST /v1/completions: plain text in, text out, streamed or not.</summary>
internal sealed class CompletionsEndpoint(MimoEngine engine)
{
    public async Task HandleAsync(HttpContext context, JsonElement body, CancellationToken cancellation)
    {
        var parsed = TextCompletionRequest.Parse(body, engine);
        var generation = parsed.Fields.Start(() => engine.StartCompletion(parsed.Request, cancellation));
        var id = OpenAiJson.ResponseId.New("cmpl", engine.ModelId);
        if (!parsed.Fields.Stream)
        {
            var text = new System.Text.StringBuilder();
            await foreach (string piece in generation.ReadAsync(cancellation).ConfigureAwait(false)) text.Append(piece);
            context.Response.ContentType = "application/json";
            await context.Response.Body.WriteAsync(OpenAiJson.TextCompletion(id, text.ToString(), generation), cancellation).ConfigureAwait(false);
            return;
        }

        var sse = new SseWriter(context.Response);
        await sse.StartAsync(cancellation).ConfigureAwait(false);
        await foreach (string piece in generation.ReadAsync(cancellation).ConfigureAwait(false))
            await sse.DataAsync(OpenAiJson.TextChunk(id, piece, null), cancellation).ConfigureAwait(false);
        await sse.DataAsync(OpenAiJson.TextChunk(id, "", generation.FinishReason), cancellation).ConfigureAwait(false);
        if (parsed.Fields.IncludeUsage)
            await sse.DataAsync(OpenAiJson.UsageChunk(id, "text_completion", generation), cancellation).ConfigureAwait(false);
        await sse.DoneAsync(cancellation).ConfigureAwait(false);
    }
}

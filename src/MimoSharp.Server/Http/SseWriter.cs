using System.Buffers;
using Microsoft.AspNetCore.Http;

namespace MimoSharp.Server.Http;

/// <summary>Server-sent events as OpenAI streams them: "data: {json}\n\n" per chunk, flushed at once, then "data: [DONE]".</summary>
internal sealed class SseWriter(HttpResponse response)
{
    private static readonly byte[] Prefix = "data: "u8.ToArray(), End = "\n\n"u8.ToArray(), Done = "data: [DONE]\n\n"u8.ToArray();

    public async Task StartAsync(CancellationToken cancellation)
    {
        response.StatusCode = StatusCodes.Status200OK;
        response.ContentType = "text/event-stream; charset=utf-8";
        response.Headers.CacheControl = "no-cache";
        response.Headers["X-Accel-Buffering"] = "no";   // proxies must not hold chunks back
        await response.StartAsync(cancellation).ConfigureAwait(false);
    }

    /// <summary>
    /// Writes one event. <paramref name="cancellation"/> (the request's time limit, shutdown) is checked before the
    /// write, not passed to the flush: Kestrel resets the connection when a response flush is cancelled, and the
    /// client is still owed the error event that says why the stream ends. The flush waits only on the client.
    /// </summary>
    public async Task DataAsync(byte[] json, CancellationToken cancellation)
    {
        cancellation.ThrowIfCancellationRequested();
        var writer = response.BodyWriter;
        writer.Write(Prefix);
        writer.Write(json);
        writer.Write(End);
        var result = await writer.FlushAsync(response.HttpContext.RequestAborted).ConfigureAwait(false);
        // A completed pipe means the client went away: stop generating for it.
        if (result.IsCompleted || result.IsCanceled)
        {
            response.HttpContext.Abort();   // marks the request aborted, which cancels its generation
            throw new OperationCanceledException("the client closed the stream");
        }
    }

    public async Task DoneAsync(CancellationToken cancellation)
    {
        cancellation.ThrowIfCancellationRequested();
        response.BodyWriter.Write(Done);
        await response.BodyWriter.FlushAsync(response.HttpContext.RequestAborted).ConfigureAwait(false);
    }
}

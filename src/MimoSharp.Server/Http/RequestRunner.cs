using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using MimoSharp.Server.Engine;

namespace MimoSharp.Server.Http;

/// <summary>
/// Runs one API request: reads the JSON body, applies the request timeout (and server shutdown), and turns
/// every failure into an OpenAI error body — 4xx naming the field for bad input, 429/503 with Retry-After
/// when full, 504 on timeout. A client that disconnects gets nothing; its generation is cancelled by the
/// token. Once a stream has started, an error becomes a final SSE "error" event instead.
/// </summary>
internal sealed class RequestRunner(ServerOptions options, CancellationToken stopping, ILogger logger)
{
    public async Task RunAsync(HttpContext context, Func<HttpContext, JsonElement, CancellationToken, Task> handle)
    {
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted, stopping);
        limit.CancelAfter(options.RequestTimeout);
        var token = limit.Token;
        try
        {
            JsonDocument document;
            try
            {
                document = await JsonDocument.ParseAsync(context.Request.Body, default, token).ConfigureAwait(false);
            }
            catch (JsonException e)
            {
                await FailAsync(context, 400, $"the request body is not valid JSON: {e.Message}", null, "invalid_json").ConfigureAwait(false);
                return;
            }
            using (document) await handle(context, document.RootElement, token).ConfigureAwait(false);
        }
        catch (Exception) when (context.RequestAborted.IsCancellationRequested)
        {
            // The client went away (a cancelled read or write, a reset connection): nobody to answer, and the
            // generation was cancelled through the token.
        }
        catch (InvalidRequestException e)
        {
            await FailAsync(context, e.StatusCode, e.Reason, e.ParamName, e.Code).ConfigureAwait(false);
        }
        catch (BadHttpRequestException e)
        {
            // The rest of the body is unread: end the connection rather than make the client finish sending it.
            if (!context.Response.HasStarted) context.Response.Headers.Connection = "close";
            await FailAsync(context, e.StatusCode, e.Message, null, e.StatusCode == 413 ? "body_too_large" : "bad_request").ConfigureAwait(false);
        }
        catch (ServerBusyException e)
        {
            await FailAsync(context, e.ShuttingDown ? 503 : 429, e.Message, null, e.ShuttingDown ? "shutting_down" : "server_busy", e.RetryAfter)
                .ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (stopping.IsCancellationRequested)
        {
            await FailAsync(context, 503, "the server is shutting down", null, "shutting_down", TimeSpan.FromSeconds(5)).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (limit.IsCancellationRequested)
        {
            await FailAsync(context, 504, $"the request took longer than the server's limit of {options.RequestTimeout.TotalSeconds:0.#} s",
                null, "request_timeout").ConfigureAwait(false);
        }
        catch (Exception e)
        {
            logger.LogError(e, "request {Path} failed", context.Request.Path);
            await FailAsync(context, 500, $"the server failed to generate: {e.Message}", null, "server_error").ConfigureAwait(false);
        }
    }

    private static async Task FailAsync(HttpContext context, int status, string message, string? param, string? code, TimeSpan? retryAfter = null)
    {
        if (context.RequestAborted.IsCancellationRequested) return;
        try
        {
            if (!context.Response.HasStarted)
            {
                await ApiErrors.WriteAsync(context, status, message, param, code, retryAfter).ConfigureAwait(false);
                return;
            }
            // Mid-stream: the status line is gone; say it in the stream (as OpenAI does) and end it.
            await new SseWriter(context.Response).DataAsync(OpenAiJson.Error(message, ApiErrors.TypeFor(status), param, code), CancellationToken.None)
                .ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or OperationCanceledException or InvalidOperationException)
        {
            // The connection broke while reporting; nothing more to do.
        }
    }
}

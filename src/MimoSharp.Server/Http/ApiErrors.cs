using Microsoft.AspNetCore.Http;

namespace MimoSharp.Server.Http;

/// <summary>Writes OpenAI-style error bodies: {"error": {"message", "type", "param", "code"}}.</summary>
internal static class ApiErrors
{
    public static async Task WriteAsync(HttpContext context, int status, string message, string? param, string? code,
        TimeSpan? retryAfter = null)
    {
        var response = context.Response;
        response.StatusCode = status;
        response.ContentType = "application/json";
        if (retryAfter is { } wait) response.Headers.RetryAfter = Math.Max(1, (int)Math.Ceiling(wait.TotalSeconds)).ToString();
        await response.Body.WriteAsync(OpenAiJson.Error(message, TypeFor(status), param, code)).ConfigureAwait(false);
    }

    // OpenAI's "type" for each kind of failure.
    public static string TypeFor(int status) => status switch
    {
        401 or 403 => "authentication_error",
        404 => "invalid_request_error",
        429 => "rate_limit_error",
        503 => "service_unavailable",
        504 => "timeout_error",
        >= 500 => "server_error",
        _ => "invalid_request_error",
    };
}

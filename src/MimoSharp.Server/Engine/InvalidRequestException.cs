namespace MimoSharp.Server.Engine;

/// <summary>
/// A request the engine cannot serve as asked: <see cref="ArgumentException.ParamName"/> is the request field
/// at fault in OpenAI's spelling (e.g. "max_tokens", "messages[2].content"), <see cref="Code"/> a stable code.
/// </summary>
public sealed class InvalidRequestException(string? param, string message, string code = "invalid_request", int statusCode = 400)
    : ArgumentException(message, param)
{
    /// <summary>A machine-readable reason, e.g. "context_length_exceeded", "model_not_found".</summary>
    public string Code { get; } = code;

    /// <summary>The HTTP status the server answers with (400 unless the reason says otherwise, e.g. 404).</summary>
    public int StatusCode { get; } = statusCode;

    /// <summary>The message without .NET's " (Parameter 'x')" suffix, as sent to clients.</summary>
    public string Reason { get; } = message;
}

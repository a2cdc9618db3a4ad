namespace MimoSharp.Server.Engine;

/// <summary>Every running slot is taken and the queue is full (or the engine is shutting down): try again later.</summary>
public sealed class ServerBusyException(string message, TimeSpan retryAfter, bool shuttingDown = false)
    : InvalidOperationException(message)
{
    /// <summary>How long a client should wait before retrying (HTTP Retry-After).</summary>
    public TimeSpan RetryAfter { get; } = retryAfter;

    /// <summary>True when the engine is stopping rather than merely full (HTTP 503 instead of 429).</summary>
    public bool ShuttingDown { get; } = shuttingDown;
}

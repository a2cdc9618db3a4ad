using Microsoft.Extensions.Logging;

namespace MimoSharp.Server.Http;

/// <summary>Where the HTTP server listens and how long one request may take.</summary>
public sealed record ServerOptions
{
    /// <summary>Address to bind: loopback by default, so nothing outside this machine can reach the model.</summary>
    public string Host { get; init; } = "127.0.0.1";

    /// <summary>TCP port; 0 picks a free one (read it back from the started app's Urls).</summary>
    public int Port { get; init; } = 8080;

    /// <summary>Wall time one request may take, queueing included; then it is cancelled and answered 504.</summary>
    public TimeSpan RequestTimeout { get; init; } = TimeSpan.FromMinutes(10);

    /// <summary>Largest request body accepted (413 beyond).</summary>
    public long MaxRequestBodyBytes { get; init; } = 8 << 20;

    /// <summary>
    /// Key every API request must send as <c>Authorization: Bearer KEY</c> (401 otherwise); null = no key. The health
    /// probe and the chat page's files stay public.
    /// </summary>
    public string? ApiKey { get; init; }

    /// <summary>Open TCP connections Kestrel accepts at once; beyond, new ones wait in the listen backlog.</summary>
    public int MaxConnections { get; init; } = 256;

    /// <summary>
    /// Requests one client address may start per minute (429 with Retry-After beyond); 0 = unlimited, null = the
    /// bind's default: unlimited on loopback, <see cref="PublicRequestsPerMinute"/> on any other address.
    /// </summary>
    public int? RequestsPerMinutePerClient { get; init; }

    /// <summary>The per-client request rate on a non-loopback bind when none is set.</summary>
    public const int PublicRequestsPerMinute = 600;

    /// <summary>Whether <see cref="Host"/> can only be reached from this machine.</summary>
    public bool IsLoopback => Host is "localhost" || (System.Net.IPAddress.TryParse(Host, out var ip) && System.Net.IPAddress.IsLoopback(ip));

    /// <summary>The request rate in force (0 = unlimited).</summary>
    public int EffectiveRequestsPerMinute => RequestsPerMinutePerClient ?? (IsLoopback ? 0 : PublicRequestsPerMinute);

    /// <summary>Serve the browser chat page at GET / (its assets are embedded; nothing is fetched from the internet).</summary>
    public bool ChatPage { get; init; } = true;

    /// <summary>Least severe log level written to the console (None silences the server).</summary>
    public LogLevel LogLevel { get; init; } = LogLevel.Information;

    public void Validate()
    {
        if (string.IsNullOrWhiteSpace(Host)) throw new ArgumentException("the host must not be empty", nameof(Host));
        if (Port is < 0 or > 65535) throw new ArgumentOutOfRangeException(nameof(Port), $"the port must be 0..65535, got {Port}");
        if (RequestTimeout <= TimeSpan.Zero)
            throw new ArgumentOutOfRangeException(nameof(RequestTimeout), $"the request timeout must be positive, got {RequestTimeout}");
        if (ApiKey is not null && string.IsNullOrWhiteSpace(ApiKey))
            throw new ArgumentException("the API key must not be empty or blank", nameof(ApiKey));
        if (MaxConnections < 1)
            throw new ArgumentOutOfRangeException(nameof(MaxConnections), $"the connection limit must be ≥ 1, got {MaxConnections}");
        if (RequestsPerMinutePerClient < 0)
            throw new ArgumentOutOfRangeException(nameof(RequestsPerMinutePerClient), $"the request rate must be ≥ 0 (0 = unlimited), got {RequestsPerMinutePerClient}");
        if (MaxRequestBodyBytes < 1024)
            throw new ArgumentOutOfRangeException(nameof(MaxRequestBodyBytes), $"the body limit must be ≥ 1024 bytes, got {MaxRequestBodyBytes}");
    }
}

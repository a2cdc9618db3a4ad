using System.Collections.Concurrent;

namespace MimoSharp.Server.Http;

/// <summary>HTTP requests answered, by route and status code (routes outside the API count as "other").</summary>
internal sealed class HttpMetrics
{
    private static readonly HashSet<string> Routes =
        ["/v1/chat/completions", "/v1/completions", "/v1/models", "/health", "/metrics"];

    private readonly ConcurrentDictionary<(string Route, int Status), StrongBox> _counts = new();

    private sealed class StrongBox
    {
        public long Value;
    }

    public void Record(string path, int status)
    {
        string route = Routes.Contains(path) ? path : path.StartsWith("/v1/models/", StringComparison.Ordinal) ? "/v1/models/{id}" : "other";
        Interlocked.Increment(ref _counts.GetOrAdd((route, status), _ => new StrongBox()).Value);
    }

    public IEnumerable<(string Route, int Status, long Count)> Snapshot()
    {
        foreach (var (key, box) in _counts.OrderBy(p => p.Key.Route, StringComparer.Ordinal).ThenBy(p => p.Key.Status))
            yield return (key.Route, key.Status, Interlocked.Read(ref box.Value));
    }
}

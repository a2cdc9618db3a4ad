using System.Globalization;
using System.Text;
using MimoSharp.Server.Engine;

namespace MimoSharp.Server.Http;

/// <summary>GET /metrics: the engine's counters and gauges in Prometheus' text exposition format (0.0.4).</summary>
internal static class PrometheusText
{
    public const string ContentType = "text/plain; version=0.0.4; charset=utf-8";

    public static string Render(MimoEngine engine, HttpMetrics http)
    {
        var m = engine.Metrics;
        var sb = new StringBuilder();
        Family(sb, "mimo_http_requests_total", "counter", "HTTP requests answered, by route and status code.");
        foreach (var (route, status, count) in http.Snapshot())
            sb.Append("mimo_http_requests_total{route=\"").Append(route).Append("\",code=\"").Append(status).Append("\"} ").Append(count).Append('\n');
        Family(sb, "mimo_requests_total", "counter", "Generation requests the engine finished, by how they ended.");
        Sample(sb, "mimo_requests_total{outcome=\"stop\"}", m.RequestsFinishedStop);
        Sample(sb, "mimo_requests_total{outcome=\"length\"}", m.RequestsFinishedLength);
        Sample(sb, "mimo_requests_total{outcome=\"cancelled\"}", m.RequestsCancelled);
        Sample(sb, "mimo_requests_total{outcome=\"failed\"}", m.RequestsFailed);
        Metric(sb, "mimo_requests_rejected_total", "counter", "Requests turned away because the queue was full (HTTP 429).", m.RequestsRejected);
        Metric(sb, "mimo_prompt_tokens_total", "counter", "Prompt tokens of finished requests (tokens in).", m.PromptTokens);
        Metric(sb, "mimo_generation_tokens_total", "counter", "Tokens generated (tokens out).", m.GeneratedTokens);
        Metric(sb, "mimo_generation_tokens_per_second", "gauge", "Tokens generated per second over the last 10 seconds.", m.TokensPerSecond);
        Metric(sb, "mimo_forward_passes_total", "counter", "Main-model forward passes (one per batch step).", m.Steps);
        Metric(sb, "mimo_speculative_draft_depth", "gauge", "MTP drafts proposed per decoding step (0 = speculative decoding off).", engine.SpeculativeDepth);
        Metric(sb, "mimo_speculative_acceptance_length", "gauge", "Tokens per decoding step over finished requests (1 + accepted drafts).", m.AcceptanceLength);
        Metric(sb, "mimo_queue_depth", "gauge", "Requests waiting for a running slot.", m.QueuedRequests);
        Metric(sb, "mimo_running_sequences", "gauge", "Sequences in the running batch.", m.RunningSequences);
        Metric(sb, "mimo_max_running_sequences", "gauge", "Running-batch limit.", engine.Options.MaxRunningSequences);
        Metric(sb, "mimo_kv_cache_bytes", "gauge", "KV-cache memory held by running sequences.", m.KvCacheBytes);
        return sb.ToString();
    }

    private static void Family(StringBuilder sb, string name, string type, string help) =>
        sb.Append("# HELP ").Append(name).Append(' ').Append(help).Append('\n').Append("# TYPE ").Append(name).Append(' ').Append(type).Append('\n');

    private static void Metric(StringBuilder sb, string name, string type, string help, double value)
    {
        Family(sb, name, type, help);
        Sample(sb, name, value);
    }

    private static void Sample(StringBuilder sb, string series, double value) =>
        sb.Append(series).Append(' ').Append(value.ToString("R", CultureInfo.InvariantCulture)).Append('\n');
}

using System.Diagnostics.Metrics;
using MimoSharp.Server.Engine;

namespace MimoSharp.Server.Metrics;

/// <summary>
/// The server's instruments on one <see cref="System.Diagnostics.Metrics.Meter"/> ("MimoSharp.Server"), so any
/// listener (dotnet-counters, OpenTelemetry, our /metrics) can read them. HTTP answers are counted here; the engine's
/// counts live in <see cref="EngineMetrics"/>, which the scheduler updates, and are observed from there when read.
/// Instrument names are the Prometheus names /metrics exposes (docs/serving.md lists them).
/// </summary>
internal sealed class ServerMetrics
{
    public const string MeterName = "MimoSharp.Server";

    private static readonly HashSet<string> Routes =
        ["/v1/chat/completions", "/v1/completions", "/v1/models", "/health", "/metrics"];

    private readonly Counter<long> _httpRequests;

    public ServerMetrics(IMeterFactory meters, MimoEngine engine)
    {
        Meter = meters.Create(MeterName);
        var m = engine.Metrics;
        _httpRequests = Meter.CreateCounter<long>("mimo_http_requests_total", description: "HTTP requests answered, by route and status code.");
        Meter.CreateObservableCounter("mimo_requests_total", () => new Measurement<long>[]
        {
            new(m.RequestsFinishedStop, new KeyValuePair<string, object?>("outcome", "stop")),
            new(m.RequestsFinishedLength, new KeyValuePair<string, object?>("outcome", "length")),
            new(m.RequestsCancelled, new KeyValuePair<string, object?>("outcome", "cancelled")),
            new(m.RequestsFailed, new KeyValuePair<string, object?>("outcome", "failed")),
        }, description: "Generation requests the engine finished, by how they ended.");
        Meter.CreateObservableCounter("mimo_requests_rejected_total", () => m.RequestsRejected,
            description: "Requests turned away because the queue was full (HTTP 429).");
        Meter.CreateObservableCounter("mimo_prompt_tokens_total", () => m.PromptTokens, description: "Prompt tokens of finished requests (tokens in).");
        Meter.CreateObservableCounter("mimo_generation_tokens_total", () => m.GeneratedTokens, description: "Tokens generated (tokens out).");
        Meter.CreateObservableGauge("mimo_generation_tokens_per_second", () => m.TokensPerSecond,
            description: "Tokens generated per second over the last 10 seconds.");
        Meter.CreateObservableCounter("mimo_forward_passes_total", () => m.Steps, description: "Main-model forward passes (one per batch step).");
        Meter.CreateObservableGauge("mimo_speculative_draft_depth", () => engine.SpeculativeDepth,
            description: "MTP drafts proposed per decoding step (0 = speculative decoding off).");
        Meter.CreateObservableGauge("mimo_speculative_acceptance_length", () => m.AcceptanceLength,
            description: "Tokens per decoding step over finished requests (1 + accepted drafts).");
        Meter.CreateObservableGauge("mimo_queue_depth", () => m.QueuedRequests, description: "Requests waiting for a running slot.");
        Meter.CreateObservableGauge("mimo_running_sequences", () => m.RunningSequences, description: "Sequences in the running batch.");
        Meter.CreateObservableGauge("mimo_max_running_sequences", () => engine.Options.MaxRunningSequences, description: "Running-batch limit.");
        Meter.CreateObservableGauge("mimo_kv_cache_bytes", () => m.KvCacheBytes, unit: "By", description: "KV-cache memory held by running sequences.");
    }

    public Meter Meter { get; }

    /// <summary>Counts one answered request under its route (paths outside the API count as "other", so labels stay few).</summary>
    public void RecordRequest(string path, int status)
    {
        string route = Routes.Contains(path) ? path : path.StartsWith("/v1/models/", StringComparison.Ordinal) ? "/v1/models/{id}" : "other";
        _httpRequests.Add(1, new KeyValuePair<string, object?>("route", route), new KeyValuePair<string, object?>("code", status));
    }
}

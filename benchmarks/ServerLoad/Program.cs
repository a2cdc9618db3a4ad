// Load figure for the OpenAI-compatible server: N concurrent clients, each sending streaming chat requests
// one after another; prints total generated tokens/s, time to first token and per-token latency (p50/p99).
// usage: dotnet run --project benchmarks/ServerLoad -c Release -- (--model DIR | --url http://127.0.0.1:8080)
//          [--clients 1,4,16] [--requests 4] [--max-tokens 64] [--prompt-words 32] [--max-running 16] [--threads N]
// With --model it starts the server in this process (Kestrel on a free 127.0.0.1 port), so the figures
// include HTTP, SSE and JSON, not just the engine.
using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using MimoSharp.Server.Engine;
using MimoSharp.Server.Http;

var options = Args.Parse(args);
MimoEngine? engine = null;
Microsoft.AspNetCore.Builder.WebApplication? app = null;
string url;
if (options.Model is { } modelDir)
{
    MimoSharp.Tensors.ComputePool.Threads = options.Threads;
    engine = MimoEngine.Load(modelDir, new EngineOptions { MaxRunningSequences = options.MaxRunning, MaxQueuedRequests = 1024 });
    app = OpenAiServer.Create(engine, new ServerOptions { Host = "127.0.0.1", Port = 0, LogLevel = LogLevel.Warning });
    await app.StartAsync();
    url = app.Urls.Single();
    Console.Error.WriteLine($"serving {modelDir} in-process at {url} ({engine.SpeculativeDepth} MTP drafts/step, {options.MaxRunning} running, {options.Threads} threads)");
}
else
{
    url = options.Url!.TrimEnd('/');
}

using var http = new HttpClient { BaseAddress = new Uri(url + "/"), Timeout = TimeSpan.FromMinutes(10) };
string model = JsonDocument.Parse(await http.GetStringAsync("v1/models")).RootElement.GetProperty("data")[0].GetProperty("id").GetString()!;
string prompt = string.Join(' ', Enumerable.Range(0, options.PromptWords).Select(i => Words.List[i % Words.List.Length]));

await Client.RunAsync(http, model, prompt, options.MaxTokens, seed: 0);   // warm-up: JIT, caches, connections

Console.WriteLine($"model {model}, prompt {options.PromptWords} words, {options.MaxTokens} tokens per request (ignore_eos), {options.Requests} requests per client");
Console.WriteLine("| clients | requests | tokens | wall s | total tok/s | TTFT p50 ms | TTFT p99 ms | per-token p50 ms | per-token p99 ms | ITL p50 ms | ITL p99 ms |");
Console.WriteLine("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
foreach (int clients in options.Clients)
{
    var clock = Stopwatch.StartNew();
    var runs = await Task.WhenAll(Enumerable.Range(0, clients).Select(c => Task.Run(async () =>
    {
        var mine = new List<Client.Result>();
        for (int r = 0; r < options.Requests; r++) mine.Add(await Client.RunAsync(http, model, prompt, options.MaxTokens, seed: c * 1000 + r));
        return mine;
    })));
    double wall = clock.Elapsed.TotalSeconds;
    var results = runs.SelectMany(r => r).ToArray();
    long tokens = results.Sum(r => r.Tokens);
    var ttft = results.Select(r => r.TimeToFirstToken).ToArray();
    var tpot = results.Where(r => r.Tokens > 1).Select(r => r.PerToken).ToArray();
    var itl = results.SelectMany(r => r.Gaps).ToArray();
    Console.WriteLine(FormattableString.Invariant(
        $"| {clients} | {results.Length} | {tokens} | {wall:F2} | {tokens / wall:F1} | {P(ttft, 50):F1} | {P(ttft, 99):F1} | {P(tpot, 50):F2} | {P(tpot, 99):F2} | {P(itl, 50):F2} | {P(itl, 99):F2} |"));
}
string metrics = await http.GetStringAsync("metrics");
string acceptance = metrics.Split('\n').FirstOrDefault(l => l.StartsWith("mimo_speculative_acceptance_length ", StringComparison.Ordinal)) ?? "";
Console.WriteLine($"speculative acceptance length (tokens per decoding step): {acceptance.Split(' ').LastOrDefault()}");

if (app is not null)
{
    await app.StopAsync();
    await app.DisposeAsync();
}
engine?.Dispose();
return 0;

// Nearest-rank percentile in milliseconds.
static double P(double[] seconds, int percentile)
{
    if (seconds.Length == 0) return double.NaN;
    var sorted = seconds.Order().ToArray();
    int rank = (int)Math.Ceiling(percentile / 100.0 * sorted.Length);
    return sorted[Math.Clamp(rank - 1, 0, sorted.Length - 1)] * 1000;
}

/// <summary>One streaming request and its timings.</summary>
internal static class Client
{
    public sealed record Result(int Tokens, double TimeToFirstToken, double PerToken, double[] Gaps);

    public static async Task<Result> RunAsync(HttpClient http, string model, string prompt, int maxTokens, int seed)
    {
        var body = new Dictionary<string, object>
        {
            ["model"] = model,
            ["messages"] = new[] { new { role = "user", content = prompt } },
            ["max_tokens"] = maxTokens,
            ["temperature"] = 0.8,
            ["seed"] = seed,
            ["ignore_eos"] = true,   // fixed-length outputs, so every N does the same work per request
            ["stream"] = true,
            ["stream_options"] = new { include_usage = true },
        };
        var clock = Stopwatch.StartNew();
        using var request = new HttpRequestMessage(HttpMethod.Post, "v1/chat/completions") { Content = JsonContent.Create(body) };
        using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        response.EnsureSuccessStatusCode();
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
        double first = double.NaN, last = 0;
        var gaps = new List<double>();
        int tokens = 0;
        while (await reader.ReadLineAsync() is { } line)
        {
            if (!line.StartsWith("data: ", StringComparison.Ordinal)) continue;
            string data = line[6..];
            if (data == "[DONE]") break;
            using var chunk = JsonDocument.Parse(data);
            var root = chunk.RootElement;
            if (root.TryGetProperty("usage", out var usage) && usage.ValueKind == JsonValueKind.Object)
                tokens = usage.GetProperty("completion_tokens").GetInt32();
            if (root.GetProperty("choices").GetArrayLength() == 0) continue;
            var delta = root.GetProperty("choices")[0].GetProperty("delta");
            bool text = (delta.TryGetProperty("content", out var c) && c.GetString() is { Length: > 0 })
                        || delta.TryGetProperty("reasoning_content", out _) || delta.TryGetProperty("tool_calls", out _);
            if (!text) continue;
            double now = clock.Elapsed.TotalSeconds;
            if (double.IsNaN(first)) first = now;
            else gaps.Add(now - last);
            last = now;
        }
        if (double.IsNaN(first)) first = last = clock.Elapsed.TotalSeconds;
        return new Result(tokens, first, tokens > 1 ? (last - first) / (tokens - 1) : 0, gaps.ToArray());
    }
}

internal sealed record Args(string? Model, string? Url, int[] Clients, int Requests, int MaxTokens, int PromptWords, int MaxRunning, int Threads)
{
    public static Args Parse(string[] args)
    {
        string? model = null, url = null;
        int[] clients = [1, 4, 16];
        int requests = 4, maxTokens = 64, promptWords = 32, maxRunning = 16, threads = Environment.ProcessorCount;
        for (int i = 0; i < args.Length; i++)
        {
            string value = i + 1 < args.Length ? args[i + 1] : throw new ArgumentException($"{args[i]} needs a value");
            switch (args[i])
            {
                case "--model": model = value; break;
                case "--url": url = value; break;
                case "--clients": clients = value.Split(',').Select(s => Positive("--clients", s)).ToArray(); break;
                case "--requests": requests = Positive("--requests", value); break;
                case "--max-tokens": maxTokens = Positive("--max-tokens", value); break;
                case "--prompt-words": promptWords = Positive("--prompt-words", value); break;
                case "--max-running": maxRunning = Positive("--max-running", value); break;
                case "--threads": threads = Positive("--threads", value); break;
                default: throw new ArgumentException($"unknown option {args[i]}");
            }
            i++;
        }
        if ((model is null) == (url is null)) throw new ArgumentException("give exactly one of --model DIR (in-process server) or --url URL (running server)");
        return new Args(model, url, clients, requests, maxTokens, promptWords, maxRunning, threads);
    }

    private static int Positive(string flag, string s) =>
        int.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture, out int v) && v > 0 ? v : throw new ArgumentException($"{flag}: '{s}' is not a positive integer");
}

internal static class Words
{
    public static readonly string[] List =
        ["the", "model", "reads", "a", "long", "story", "about", "rivers", "and", "mountains", "where", "people", "walk", "every", "morning", "to", "see", "light"];
}

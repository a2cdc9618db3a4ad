// Load figure for the OpenAI-compatible server: N concurrent clients, each sending streaming chat requests
// one after another; prints total generated tokens/s, time to first token and per-token latency (p50/p99).
// usage: dotnet run --project benchmarks/ServerLoad -c Release -- (--model DIR | --url http://127.0.0.1:8080)
//          [--clients 1,4,16] [--requests 4] [--max-tokens 64] [--prompt-words 32] [--max-running 16] [--threads N]
//          [--temperature 0.8] [--speculative K (as mimo serve's; default adaptive)] [--compare]
// With --model it starts the server in this process (Kestrel on a free 127.0.0.1 port), so the figures
// include HTTP, SSE and JSON, not just the engine.
// --compare (with --model): server overhead. The same request (prompt, sampling, seed, max tokens, ignore_eos, and
// the server's default speculation: plain decoding when sampled with a seed, adaptive MTP drafts when greedy,
// --temperature 0) runs --requests times each way, alternating: through a Generator (no scheduler), through the
// engine in-process (the same scheduler, no HTTP) and through HTTP/SSE; prints median tok/s and ratios, then the
// aggregate tok/s of --clients concurrent clients in-process and over HTTP.
using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using MimoSharp.Model;
using MimoSharp.Server.Engine;
using MimoSharp.Server.Http;
using MimoSharp.Text;

var options = Args.Parse(args);
MimoEngine? engine = null;
MimoModel? loaded = null;
Microsoft.AspNetCore.Builder.WebApplication? app = null;
string url;
if (options.Model is { } modelDir)
{
    MimoSharp.Tensors.ComputePool.Threads = options.Threads;
    // Loaded here rather than by MimoEngine.Load so that --compare can also run the model without the engine.
    loaded = MimoModel.Load(modelDir, new ModelLoadOptions());
    var tokenizer = Tokenizer.FromFile(Path.Combine(modelDir, "tokenizer.json"));
    string id = Path.GetFileName(Path.GetFullPath(modelDir).TrimEnd(Path.DirectorySeparatorChar));
    engine = new MimoEngine(loaded, tokenizer,
        new EngineOptions { ModelId = id, MaxRunningSequences = options.MaxRunning, MaxQueuedRequests = 1024, Speculative = options.Speculative }, ownsModel: true);
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

// Warm-up: connections, caches, and the JIT's tiers (the profile of a run after one warm-up request showed 10% of
// the CPU time in the tiering compiler).
for (int i = 0; i < 5; i++) await Client.RunAsync(http, model, prompt, options.MaxTokens, seed: 0, options.Temperature);
if (options.Compare)
{
    if (engine is null || loaded is null) throw new ArgumentException("--compare needs --model (the model in this process)");
    await Overhead.CompareAsync(http, model, engine, loaded, prompt, options.MaxTokens, options.Temperature, options.Requests);
    await Overhead.CurveAsync(http, model, engine, prompt, options.MaxTokens, options.Temperature, options.Clients, options.Requests);
}
else
{
    Console.WriteLine($"model {model}, prompt {options.PromptWords} words, {options.MaxTokens} tokens per request (ignore_eos), {options.Requests} requests per client");
    Console.WriteLine("| clients | requests | tokens | wall s | total tok/s | TTFT p50 ms | TTFT p99 ms | per-token p50 ms | per-token p99 ms | ITL p50 ms | ITL p99 ms |");
    Console.WriteLine("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    foreach (int clients in options.Clients)
    {
        var clock = Stopwatch.StartNew();
        var runs = await Task.WhenAll(Enumerable.Range(0, clients).Select(c => Task.Run(async () =>
        {
            var mine = new List<Client.Result>();
            for (int r = 0; r < options.Requests; r++) mine.Add(await Client.RunAsync(http, model, prompt, options.MaxTokens, seed: c * 1000 + r, options.Temperature));
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
    /// <summary>Timings in seconds from sending the request; <see cref="Wall"/> ends at the last byte of the stream.</summary>
    public sealed record Result(int Tokens, double TimeToFirstToken, double PerToken, double[] Gaps, double Wall, string Content);

    public static async Task<Result> RunAsync(HttpClient http, string model, string prompt, int maxTokens, int seed, float temperature)
    {
        var body = new Dictionary<string, object>
        {
            ["model"] = model,
            ["messages"] = new[] { new { role = "user", content = prompt } },
            ["max_tokens"] = maxTokens,
            ["temperature"] = temperature,
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
        var content = new System.Text.StringBuilder();
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
            if (delta.TryGetProperty("content", out var piece)) content.Append(piece.GetString());
            bool text = (delta.TryGetProperty("content", out var c) && c.GetString() is { Length: > 0 })
                        || delta.TryGetProperty("reasoning_content", out _) || delta.TryGetProperty("tool_calls", out _);
            if (!text) continue;
            double now = clock.Elapsed.TotalSeconds;
            if (double.IsNaN(first)) first = now;
            else gaps.Add(now - last);
            last = now;
        }
        double wall = clock.Elapsed.TotalSeconds;
        if (double.IsNaN(first)) first = last = wall;
        return new Result(tokens, first, tokens > 1 ? (last - first) / (tokens - 1) : 0, gaps.ToArray(), wall, content.ToString());
    }
}

internal sealed record Args(string? Model, string? Url, int[] Clients, int Requests, int MaxTokens, int PromptWords, int MaxRunning, int Threads, bool Compare, float Temperature, int? Speculative)
{
    public static Args Parse(string[] args)
    {
        string? model = null, url = null;
        int[] clients = [1, 4, 16];
        int requests = 4, maxTokens = 64, promptWords = 32, maxRunning = 16, threads = Environment.ProcessorCount;
        bool compare = false;
        float temperature = 0.8f;
        int? speculative = null;
        for (int i = 0; i < args.Length; i++)
        {
            if (args[i] == "--compare")
            {
                compare = true;
                continue;
            }
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
                case "--speculative":
                    speculative = int.TryParse(value, NumberStyles.Integer, CultureInfo.InvariantCulture, out int k) && k >= 0 ? k
                        : throw new ArgumentException($"--speculative: '{value}' is not a draft depth ≥ 0");
                    break;
                case "--temperature":
                    temperature = float.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out float t) && t >= 0 && t <= 2 ? t
                        : throw new ArgumentException($"--temperature: '{value}' is not a number in [0, 2]");
                    break;
                default: throw new ArgumentException($"unknown option {args[i]}");
            }
            i++;
        }
        if ((model is null) == (url is null)) throw new ArgumentException("give exactly one of --model DIR (in-process server) or --url URL (running server)");
        return new Args(model, url, clients, requests, maxTokens, promptWords, maxRunning, threads, compare, temperature, speculative);
    }

    private static int Positive(string flag, string s) =>
        int.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture, out int v) && v > 0 ? v : throw new ArgumentException($"{flag}: '{s}' is not a positive integer");
}

internal static class Words
{
    public static readonly string[] List =
        ["the", "model", "reads", "a", "long", "story", "about", "rivers", "and", "mountains", "where", "people", "walk", "every", "morning", "to", "see", "light"];
}

/// <summary>
/// What the server costs one client: the identical request through HTTP/SSE, through the engine in-process (same
/// scheduler and text handling, no HTTP) and through a <see cref="MimoSharp.Inference.Generator"/> (the model alone),
/// alternating so that a noisy machine affects all three alike. Every path gets the same prompt, seed, sampling and
/// speculative setting, so each draws the same tokens (checked: the texts must match).
/// </summary>
internal static class Overhead
{
    private sealed record Run(int Tokens, double Wall, double FirstToken, string Text)
    {
        /// <summary>Tokens per second as the client sees the request: from sending it to its end.</summary>
        public double RequestRate => Tokens / Wall;

        /// <summary>Tokens after the first over the time from the first to the end.</summary>
        public double DecodeRate => (Tokens - 1) / (Wall - FirstToken);
    }

    public static async Task CompareAsync(HttpClient http, string model, MimoEngine engine, MimoModel loaded, string prompt, int maxTokens, float temperature, int rounds)
    {
        var paths = new (string Name, Func<int, Task<Run>> Once)[]
        {
            ("generator (model only)", seed => Task.FromResult(GeneratorRun(engine, loaded, prompt, maxTokens, temperature, seed))),
            ("engine in-process", seed => EngineRun(engine, prompt, maxTokens, temperature, seed)),
            ("HTTP/SSE", async seed =>
            {
                var r = await Client.RunAsync(http, model, prompt, maxTokens, seed, temperature);
                return new Run(r.Tokens, r.Wall, r.TimeToFirstToken, r.Content);
            }),
        };
        for (int i = 0; i < 5; i++)
            foreach (var path in paths) await path.Once(0);   // warm-up: JIT tiers, caches
        var runs = paths.Select(_ => new List<Run>()).ToArray();
        for (int round = 0; round < rounds; round++)
        {
            int seed = 1 + round;
            for (int p = 0; p < paths.Length; p++) runs[p].Add(await paths[p].Once(seed));
            // Same seed, same settings: every path must have produced the same text and count (the chat
            // output parser trims the white space around a reply; the generator's text is raw).
            for (int p = 1; p < paths.Length; p++)
                if (runs[p][^1].Text.Trim() != runs[0][^1].Text.Trim() || runs[p][^1].Tokens != runs[0][^1].Tokens)
                    throw new InvalidOperationException(
                        $"round {round}: {paths[p].Name} produced other output than {paths[0].Name}: {runs[p][^1].Tokens} tokens \"{runs[p][^1].Text}\" against {runs[0][^1].Tokens} \"{runs[0][^1].Text}\"");
        }
        var decoding = Decoding(engine, maxTokens, temperature, 0);
        string how = decoding.Speculative == 0 ? "plain decoding" : $"{(decoding.AdaptiveSpeculation ? "adaptive" : "fixed")} MTP speculation up to {decoding.Speculative} drafts";
        Console.WriteLine($"one client, the same request each way ({runs[0][0].Tokens} tokens, seeded temperature {temperature}: {how}), {rounds} alternating rounds, medians:");
        Console.WriteLine("| path | request tok/s | decode tok/s | TTFT ms | request rate / generator | request rate / engine |");
        Console.WriteLine("|---|---:|---:|---:|---:|---:|");
        double generator = Median(runs[0].Select(r => r.RequestRate)), inProcess = Median(runs[1].Select(r => r.RequestRate));
        for (int p = 0; p < paths.Length; p++)
        {
            double rate = Median(runs[p].Select(r => r.RequestRate));
            Console.WriteLine(FormattableString.Invariant(
                $"| {paths[p].Name} | {rate:F1} | {Median(runs[p].Select(r => r.DecodeRate)):F1} | {Median(runs[p].Select(r => r.FirstToken)) * 1000:F2} | {rate / generator:P1} | {rate / inProcess:P1} |"));
        }
    }

    /// <summary>
    /// Aggregate tokens/s of N concurrent clients (each one request of the same shape, seeds apart), in-process
    /// through the engine and through HTTP/SSE, alternating per round; medians of the rounds.
    /// </summary>
    public static async Task CurveAsync(HttpClient http, string model, MimoEngine engine, string prompt, int maxTokens, float temperature, int[] clientCounts, int rounds)
    {
        Console.WriteLine($"N concurrent clients, one request each per round ({maxTokens} tokens), {rounds} alternating rounds, medians of aggregate tok/s:");
        Console.WriteLine("| clients | engine in-process tok/s | HTTP/SSE tok/s | HTTP / in-process |");
        Console.WriteLine("|---:|---:|---:|---:|");
        foreach (int clients in clientCounts)
        {
            var inProcess = new List<double>();
            var served = new List<double>();
            for (int round = -1; round < rounds; round++)   // round -1 warms up at this batch size
            {
                var clock = Stopwatch.StartNew();
                var a = await Task.WhenAll(Enumerable.Range(0, clients).Select(c => Task.Run(() => EngineRun(engine, prompt, maxTokens, temperature, 1000 * c + round + 2))));
                double engineRate = a.Sum(r => r.Tokens) / clock.Elapsed.TotalSeconds;
                clock.Restart();
                var b = await Task.WhenAll(Enumerable.Range(0, clients).Select(c => Task.Run(() => Client.RunAsync(http, model, prompt, maxTokens, 1000 * c + round + 2, temperature))));
                double httpRate = b.Sum(r => r.Tokens) / clock.Elapsed.TotalSeconds;
                for (int c = 0; c < clients; c++)
                    if (a[c].Text != b[c].Content || a[c].Tokens != b[c].Tokens)
                        throw new InvalidOperationException($"{clients} clients, round {round}, client {c}: HTTP produced other output than the engine in-process");
                if (round < 0) continue;
                inProcess.Add(engineRate);
                served.Add(httpRate);
            }
            double x = Median(inProcess), y = Median(served);
            Console.WriteLine(FormattableString.Invariant($"| {clients} | {x:F1} | {y:F1} | {y / x:P1} |"));
        }
    }

    /// <summary>
    /// The decoding settings MimoEngine gives this request when the server runs with its default speculation (no
    /// --speculative): adaptive MTP depth for greedy requests, plain decoding for seeded sampled ones. Mirrors
    /// MimoEngine.Submit, so the generator runs with the same speculative setting as the server.
    /// </summary>
    private static MimoSharp.Inference.GenerationOptions Decoding(MimoEngine engine, int maxTokens, float temperature, int seed)
    {
        var sampling = Sampling(temperature, seed);
        bool adaptive = sampling.IsGreedy;
        return new MimoSharp.Inference.GenerationOptions
        {
            MaxTokens = maxTokens,
            Sampling = sampling,
            Speculative = adaptive ? engine.SpeculativeDepth : 0,
            AdaptiveSpeculation = adaptive,
        };
    }

    private static MimoSharp.Inference.SamplingOptions Sampling(float temperature, int seed) => new() { Temperature = temperature, Seed = (ulong)seed };

    private static ChatMessage[] Messages(string prompt) => [ChatMessage.User(prompt)];

    private static Run GeneratorRun(MimoEngine engine, MimoModel loaded, string prompt, int maxTokens, float temperature, int seed)
    {
        var clock = Stopwatch.StartNew();
        // What MimoEngine.StartChat does before queueing: render the template, encode it.
        int[] ids = engine.Tokenizer.Encode(ChatTemplate.Render(Messages(prompt), [], false, addGenerationPrompt: true));
        var generator = new MimoSharp.Inference.Generator(loaded, Decoding(engine, maxTokens, temperature, seed));
        var output = new List<int>(maxTokens);
        double first = double.NaN;
        foreach (int id in generator.Generate(ids))
        {
            if (double.IsNaN(first)) first = clock.Elapsed.TotalSeconds;
            output.Add(id);
        }
        string text = engine.Tokenizer.Decode(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(output), skipSpecial: true);
        return new Run(output.Count, clock.Elapsed.TotalSeconds, first, text);
    }

    private static async Task<Run> EngineRun(MimoEngine engine, string prompt, int maxTokens, float temperature, int seed)
    {
        var clock = Stopwatch.StartNew();
        var generation = engine.StartChat(new ChatRequest(Messages(prompt)) { MaxTokens = maxTokens, Sampling = Sampling(temperature, seed), IgnoreEos = true });
        var text = new System.Text.StringBuilder();
        double first = double.NaN;
        await foreach (var delta in generation.ReadAsync())
        {
            if (double.IsNaN(first)) first = clock.Elapsed.TotalSeconds;
            text.Append(delta.Content);
        }
        return new Run(generation.Text.CompletionTokens, clock.Elapsed.TotalSeconds, first, text.ToString());
    }

    private static double Median(IEnumerable<double> xs)
    {
        var a = xs.Order().ToArray();
        return a.Length % 2 == 1 ? a[a.Length / 2] : (a[a.Length / 2 - 1] + a[a.Length / 2]) / 2;
    }
}

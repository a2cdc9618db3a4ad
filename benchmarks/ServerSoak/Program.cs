// Soak of the OpenAI-compatible server: starts `mimo serve` (a real process on 127.0.0.1), drives it for a bounded
// time with a seeded mix of traffic — chat and completions, streaming and not, clients that hang up mid-stream,
// malformed and oversized bodies, prompts at and past the context limit, all at once from several clients — and
// samples the server's RSS, running slots, queue and KV bytes every interval. Stops by itself; exits 1 on any 5xx,
// a wrong status, slots or KV memory left held after the traffic stops, or RSS still growing at the end.
// usage: dotnet run --project benchmarks/ServerSoak -c Release -- [--model models/default] [--minutes 10]
//          [--clients 8] [--seed 1] [--interval 30] [--mimo src/MimoSharp.Cli/bin/Release/net10.0/mimo.dll]
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;

var o = SoakOptions.Parse(args);
int port = FreePort();
var psi = new ProcessStartInfo("dotnet") { UseShellExecute = false, RedirectStandardError = true, RedirectStandardOutput = true };
foreach (var a in new[] { o.Mimo, "serve", "--model", o.Model, "--host", "127.0.0.1", "--port", port.ToString(CultureInfo.InvariantCulture),
                          "--max-running", "8", "--max-queue", "32", "--timeout", "120" })
    psi.ArgumentList.Add(a);
using var server = Process.Start(psi)!;
server.ErrorDataReceived += (_, _) => { };
server.OutputDataReceived += (_, _) => { };
server.BeginErrorReadLine();
server.BeginOutputReadLine();
using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}/"), Timeout = TimeSpan.FromMinutes(3) };
try
{
    await WaitForHealth(http, server);
    var meta = JsonDocument.Parse(await http.GetStringAsync("v1/models")).RootElement.GetProperty("data")[0];
    string model = meta.GetProperty("id").GetString()!;
    int context = o.Context;
    Console.WriteLine($"soak: {model} on 127.0.0.1:{port}, {o.Clients} clients, {o.Minutes} min, seed {o.Seed}, context {context}");
    Console.WriteLine("| t s | requests | ok | 4xx | 429 | 5xx | hang-ups | p50 ms | p99 ms | RSS MiB | running | queued | KV KiB |");
    Console.WriteLine("|---|---|---|---|---|---|---|---|---|---|---|---|---|");

    var stats = new Stats();
    var clock = Stopwatch.StartNew();
    var end = TimeSpan.FromMinutes(o.Minutes);
    var clients = Enumerable.Range(0, o.Clients).Select(i => Task.Run(() => Client(http, model, context, o.Seed * 1000 + i, clock, end, stats))).ToArray();
    var rss = new List<double>();
    while (clock.Elapsed < end)
    {
        await Task.Delay(TimeSpan.FromSeconds(Math.Min(o.Interval, Math.Max(0.1, (end - clock.Elapsed).TotalSeconds))));
        var m = await Metrics(http);
        double mib = Rss(server.Id);
        rss.Add(mib);
        Console.WriteLine(stats.Row(clock.Elapsed, mib, m));
    }
    await Task.WhenAll(clients);

    // Traffic has stopped: every slot and every KV byte must come back.
    var idle = Stopwatch.StartNew();
    var last = await Metrics(http);
    while ((last.Running > 0 || last.Queued > 0 || last.KvBytes > 0) && idle.Elapsed < TimeSpan.FromSeconds(30))
    {
        await Task.Delay(200);
        last = await Metrics(http);
    }
    double finalRss = Rss(server.Id);
    Console.WriteLine(stats.Row(clock.Elapsed, finalRss, last) + " ← idle");

    var failures = new List<string>();
    if (stats.ServerErrors > 0) failures.Add($"{stats.ServerErrors} responses were 5xx");
    if (stats.Ok == 0 || stats.Busy > stats.Requests / 2) failures.Add($"only {stats.Ok} requests succeeded ({stats.Busy} turned away with 429)");
    if (stats.WrongStatus > 0) failures.Add($"{stats.WrongStatus} responses had an unexpected status: {string.Join("; ", stats.WrongExamples.Take(5))}");
    if (last.Running > 0 || last.Queued > 0 || last.KvBytes > 0)
        failures.Add($"after the traffic stopped: {last.Running} running, {last.Queued} queued, {last.KvBytes} KV bytes still held");
    // Flat RSS: the last third of the samples may not sit more than 10% above the middle third (warm-up excluded).
    if (rss.Count < 6)
        Console.WriteLine($"RSS: {rss.Count} samples, too few to judge growth (run longer or lower --interval)");
    else
    {
        double middle = Median(rss.Skip(rss.Count / 3).Take(rss.Count / 3)), tail = Median(rss.Skip(2 * rss.Count / 3));
        Console.WriteLine(FormattableString.Invariant($"RSS median: middle third {middle:F0} MiB, last third {tail:F0} MiB ({100 * (tail / middle - 1):+0.0;-0.0}%)"));
        if (tail > middle * 1.10) failures.Add($"RSS grew from {middle:F0} to {tail:F0} MiB");
    }
    Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
        $"soak: {stats.Requests:N0} requests in {clock.Elapsed.TotalSeconds:F0} s ({stats.Requests / clock.Elapsed.TotalSeconds:F1}/s): " +
        $"{stats.Ok:N0} ok, {stats.ClientErrors:N0} 4xx as intended, {stats.Busy:N0} 429, {stats.ServerErrors} 5xx, {stats.HangUps:N0} client hang-ups; " +
        $"latency of complete non-streamed requests p50 {stats.Percentile(0.5):F0} ms, p99 {stats.Percentile(0.99):F0} ms"));
    foreach (var f in failures) Console.WriteLine("FAIL: " + f);
    return failures.Count == 0 ? 0 : 1;
}
finally
{
    if (!server.HasExited) server.Kill(entireProcessTree: true);
}

static async Task Client(HttpClient http, string model, int context, int seed, Stopwatch clock, TimeSpan end, Stats stats)
{
    var rng = new Random(seed);
    while (clock.Elapsed < end)
    {
        int pick = rng.Next(100);
        try
        {
            switch (pick)
            {
                case < 30: await Chat(http, model, rng, stats, stream: false); break;
                case < 55: await Chat(http, model, rng, stats, stream: true); break;
                case < 65: await HangUp(http, model, rng, stats); break;
                case < 72: await Completion(http, model, rng, stats, promptIds: rng.Next(1, 40), expect: 200); break;
                case < 80: await Send(http, "v1/chat/completions", Malformed(rng, model), stats, expect: 400); break;
                case < 84: await Oversized(http, stats); break;
                case < 92: await Completion(http, model, rng, stats, promptIds: context - 16, expect: 200, maxTokens: 8); break;
                default: await Completion(http, model, rng, stats, promptIds: context + rng.Next(0, 50), expect: 400); break;
            }
        }
        catch (HttpRequestException e)
        {
            stats.Wrong($"transport error: {e.Message}");
        }
    }
}

static async Task Chat(HttpClient http, string model, Random rng, Stats stats, bool stream)
{
    var body = new Dictionary<string, object?>
    {
        ["model"] = model,
        ["messages"] = new[] { new { role = "user", content = Words(rng, rng.Next(2, 60)) } },
        ["max_tokens"] = rng.Next(1, 64),
        ["stream"] = stream,
        ["temperature"] = rng.Next(2) == 0 ? 0.0 : 0.8,
        ["seed"] = rng.Next(3) == 0 ? rng.Next() : null,
    };
    await Send(http, "v1/chat/completions", JsonSerializer.Serialize(body), stats, expect: 200, timed: !stream);
}

static async Task Completion(HttpClient http, string model, Random rng, Stats stats, int promptIds, int expect, int maxTokens = 16)
{
    var ids = Enumerable.Range(0, promptIds).Select(_ => rng.Next(0, 4000)).ToArray();
    string body = JsonSerializer.Serialize(new { model, prompt = ids, max_tokens = maxTokens, temperature = 0 });
    await Send(http, "v1/completions", body, stats, expect, timed: expect == 200);
}

// A streaming request whose client reads a few events and closes the connection.
static async Task HangUp(HttpClient http, string model, Random rng, Stats stats)
{
    string body = JsonSerializer.Serialize(new { model, messages = new[] { new { role = "user", content = Words(rng, 20) } }, max_tokens = 200, stream = true, ignore_eos = true });
    using var cancel = new CancellationTokenSource();
    using var request = new HttpRequestMessage(HttpMethod.Post, "v1/chat/completions") { Content = new StringContent(body, Encoding.UTF8, "application/json") };
    try
    {
        using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancel.Token);
        stats.Count((int)response.StatusCode, expect: 200, latency: null);
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync(cancel.Token));
        int lines = rng.Next(1, 12);
        for (int i = 0; i < lines && await reader.ReadLineAsync(cancel.Token) is not null; i++) { }
        cancel.Cancel();
    }
    catch (OperationCanceledException) { }
    stats.HangUp();
}

static async Task Oversized(HttpClient http, Stats stats)
{
    var big = new string('a', 9 * 1024 * 1024);
    try
    {
        await Send(http, "v1/chat/completions", $"{{\"messages\":[{{\"role\":\"user\",\"content\":\"{big}\"}}]}}", stats, expect: 413);
    }
    catch (HttpRequestException e) when (e.InnerException is IOException or System.Net.Sockets.SocketException)
    {
        stats.Count(413, expect: 413, latency: null);   // the server answered 413 and closed the connection mid-upload
    }
}

static async Task Send(HttpClient http, string path, string body, Stats stats, int expect, bool timed = false)
{
    var clock = Stopwatch.StartNew();
    using var response = await http.PostAsync(path, new StringContent(body, Encoding.UTF8, "application/json"));
    string text = await response.Content.ReadAsStringAsync();
    // A stream that fails after its 200 carries the error as a data event ({"error": ...}) and no [DONE].
    if ((int)response.StatusCode == 200 && response.Content.Headers.ContentType?.MediaType == "text/event-stream"
        && (text.Contains("data: {\"error\"", StringComparison.Ordinal) || !text.TrimEnd().EndsWith("data: [DONE]", StringComparison.Ordinal)))
        stats.Wrong($"{path}: the stream failed or did not end with [DONE]: {text[^Math.Min(200, text.Length)..]}");
    stats.Count((int)response.StatusCode, expect, timed ? clock.Elapsed.TotalMilliseconds : null, text);
}

static string Malformed(Random rng, string model) => rng.Next(8) switch
{
    0 => "{\"messages\": [",
    1 => "not json at all",
    2 => $"{{\"model\":\"{model}\",\"messages\":\"hello\"}}",
    3 => "{\"messages\":[{\"role\":\"wizard\",\"content\":\"x\"}]}",
    4 => "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"max_tokens\":-5}",
    5 => "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"temperature\":\"hot\"}",
    6 => "{\"messages\":[]}",
    _ => "[1,2,3]",
};

static string Words(Random rng, int n)
{
    string[] words = ["the", "model", "reads", "a", "long", "context", "and", "writes", "short", "answers", "about", "cats", "code", "rivers"];
    return string.Join(' ', Enumerable.Range(0, n).Select(_ => words[rng.Next(words.Length)]));
}

static async Task WaitForHealth(HttpClient http, Process server)
{
    var clock = Stopwatch.StartNew();
    while (clock.Elapsed < TimeSpan.FromMinutes(2))
    {
        if (server.HasExited) throw new InvalidOperationException($"mimo serve exited with {server.ExitCode}");
        try
        {
            if ((await http.GetAsync("health")).IsSuccessStatusCode) return;
        }
        catch (HttpRequestException) { }
        await Task.Delay(200);
    }
    throw new TimeoutException("mimo serve did not become healthy in 2 minutes");
}

static async Task<(double Running, double Queued, double KvBytes)> Metrics(HttpClient http)
{
    string text = await http.GetStringAsync("metrics");
    double Value(string name) => text.Split('\n').Where(l => l.StartsWith(name + " ", StringComparison.Ordinal))
        .Select(l => double.Parse(l[(name.Length + 1)..], CultureInfo.InvariantCulture))
        .DefaultIfEmpty(double.NaN).First() is var v && !double.IsNaN(v) ? v : throw new InvalidDataException($"/metrics has no {name}");
    return (Value("mimo_running_sequences"), Value("mimo_queue_depth"), Value("mimo_kv_cache_bytes"));
}

static double Rss(int pid)
{
    foreach (var line in File.ReadLines($"/proc/{pid}/status"))
        if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
            return double.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) / 1024;
    return double.NaN;
}

static double Median(IEnumerable<double> values)
{
    var sorted = values.Order().ToArray();
    return sorted.Length == 0 ? double.NaN : sorted[sorted.Length / 2];
}

static int FreePort()
{
    var l = new TcpListener(IPAddress.Loopback, 0);
    l.Start();
    int port = ((IPEndPoint)l.LocalEndpoint).Port;
    l.Stop();
    return port;
}

sealed class Stats
{
    private readonly object _gate = new();
    private readonly List<double> _latencies = [];
    private int _windowStart;
    public int Requests, Ok, ClientErrors, Busy, ServerErrors, WrongStatus, HangUps;
    public List<string> WrongExamples { get; } = [];

    public void Count(int status, int expect, double? latency, string? body = null)
    {
        lock (_gate)
        {
            Requests++;
            if (status >= 500) ServerErrors++;
            if (status == 429) Busy++;
            else if (status == expect) { if (status < 300) Ok++; else ClientErrors++; }
            else Wrong($"{status} where {expect} was expected: {body?[..Math.Min(200, body.Length)]}");
            if (latency is double l && status == 200) _latencies.Add(l);
        }
    }

    public void Wrong(string example)
    {
        lock (_gate)
        {
            WrongStatus++;
            if (WrongExamples.Count < 20) WrongExamples.Add(example);
        }
    }

    public void HangUp() => Interlocked.Increment(ref HangUps);

    public double Percentile(double p)
    {
        lock (_gate) return Pct(_latencies, p);
    }

    private static double Pct(List<double> values, double p)
    {
        if (values.Count == 0) return double.NaN;
        var sorted = values.Order().ToArray();
        return sorted[Math.Min(sorted.Length - 1, (int)(p * sorted.Length))];
    }

    /// <summary>One table row: totals so far, latency over the samples since the previous row.</summary>
    public string Row(TimeSpan t, double rssMiB, (double Running, double Queued, double KvBytes) m)
    {
        lock (_gate)
        {
            var window = _latencies.Skip(_windowStart).ToList();
            _windowStart = _latencies.Count;
            return FormattableString.Invariant(
                $"| {t.TotalSeconds:F0} | {Requests} | {Ok} | {ClientErrors} | {Busy} | {ServerErrors} | {HangUps} | {Pct(window, 0.5):F0} | {Pct(window, 0.99):F0} | {rssMiB:F0} | {m.Running} | {m.Queued} | {m.KvBytes / 1024:F0} |");
        }
    }
}

sealed record SoakOptions(string Model, double Minutes, int Clients, int Seed, double Interval, string Mimo, int Context)
{
    public static SoakOptions Parse(string[] args)
    {
        string root = Root();
        var o = new SoakOptions(Path.Combine(root, "models", "default"), 10, 8, 1, 30,
            Path.Combine(root, "src", "MimoSharp.Cli", "bin", "Release", "net10.0", "mimo.dll"), 0);
        for (int i = 0; i < args.Length; i++)
        {
            string v = i + 1 < args.Length ? args[i + 1] : throw new ArgumentException($"{args[i]} needs a value");
            o = args[i++] switch
            {
                "--model" => o with { Model = v },
                "--minutes" => o with { Minutes = double.Parse(v, CultureInfo.InvariantCulture) },
                "--clients" => o with { Clients = int.Parse(v, CultureInfo.InvariantCulture) },
                "--seed" => o with { Seed = int.Parse(v, CultureInfo.InvariantCulture) },
                "--interval" => o with { Interval = double.Parse(v, CultureInfo.InvariantCulture) },
                "--mimo" => o with { Mimo = v },
                var other => throw new ArgumentException($"unknown option {other}"),
            };
        }
        var config = JsonDocument.Parse(File.ReadAllText(Path.Combine(o.Model, "config.json"))).RootElement;
        return o with { Context = config.GetProperty("max_position_embeddings").GetInt32() };
    }

    private static string Root()
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
            if (File.Exists(Path.Combine(d.FullName, "MimoSharp.slnx"))) return d.FullName;
        return Directory.GetCurrentDirectory();
    }
}

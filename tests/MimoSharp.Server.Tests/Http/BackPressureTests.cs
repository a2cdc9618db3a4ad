using System.Text.Json;
using MimoSharp.Server.Engine;
using MimoSharp.Server.Http;
using MimoSharp.Server.Tests.Support;

namespace MimoSharp.Server.Tests.Http;

/// <summary>Limits: full queue, client disconnects, timeouts — and that each frees its slot and cache.</summary>
public sealed class BackPressureTests
{
    // Long enough that it is still running when the test acts, on any machine: the requests that must still be running
    // go to the shipped default model with its context raised to 65,536 (LongContextDefaultModel), ~60,000 tokens at
    // under ~6,000 tokens/s here. With the shipped 4,096, a 4,000-token request could finish in 0.7 s, before the
    // test's disconnect reached the scheduler.
    private const int LongTokens = 60_000;
    private const string Long = """{"messages":[{"role":"user","content":"Go on forever."}],"max_tokens":60000,"temperature":0.8,"ignore_eos":true,"stream":true}""";
    private const string Short = """{"messages":[{"role":"user","content":"Hi"}],"max_tokens":4}""";

    private static Task<ServerHost> StartDefaultModelAsync(EngineOptions engine, ServerOptions? server = null) =>
        ServerHost.StartAsync(MimoSharp.Server.Engine.MimoEngine.Load(LongContextDefaultModel.Dir, engine), server);

    private static async Task<HttpResponseMessage> StartRunningAsync(ServerHost server)
    {
        var response = await Sse.StartAsync(server.Http, "v1/chat/completions", Long);
        Assert.Equal(200, (int)response.StatusCode);
        Assert.Equal(1, await server.WaitForMetricAsync("mimo_running_sequences", v => v == 1));
        return response;
    }

    [Fact]
    public async Task AFullQueueAnswers429WithRetryAfterAndQueuedRequestsRunLater()
    {
        await using var server = await StartDefaultModelAsync(new EngineOptions { MaxRunningSequences = 1, MaxQueuedRequests = 1 });
        var running = await StartRunningAsync(server);

        var queued = server.PostAsync("v1/chat/completions", Short);
        Assert.Equal(1, await server.WaitForMetricAsync("mimo_queue_depth", v => v == 1));

        var (status, body, response) = await server.PostAsync("v1/chat/completions", Short);
        Assert.Equal(429, status);
        Assert.Equal("1", response.Headers.RetryAfter?.ToString());
        Assert.Equal("server_busy", body.GetProperty("error").GetProperty("code").GetString());
        Assert.Equal("rate_limit_error", body.GetProperty("error").GetProperty("type").GetString());
        Assert.Equal(1, await server.MetricAsync("mimo_requests_rejected_total"));

        running.Dispose();   // the client goes away: its slot goes to the queued request
        var (queuedStatus, queuedBody, _) = await queued;
        Assert.True(queuedStatus == 200, queuedBody.ToString());
    }

    [Fact]
    public async Task ADisconnectMidStreamCancelsTheGenerationAndFreesItsSlotAndCache()
    {
        await using var server = await StartDefaultModelAsync(new EngineOptions { MaxRunningSequences = 1, MaxQueuedRequests = 0 });
        var response = await StartRunningAsync(server);
        // The reader stays open until the disconnect below: disposing it closes the response stream, which is itself a
        // disconnect, and the cache could be gone before the gauge check saw it.
        var events = Sse.ReadAsync(response).GetAsyncEnumerator();
        for (int i = 0; i < 3; i++) Assert.True(await events.MoveNextAsync());
        // The scheduler publishes the gauge at its admission passes; wait for the running sequence to show in it.
        Assert.True(await server.WaitForMetricAsync("mimo_kv_cache_bytes", v => v > 0) > 0);

        await events.DisposeAsync();   // the client goes away mid-stream
        response.Dispose();
        Assert.Equal(0, await server.WaitForMetricAsync("mimo_running_sequences", v => v == 0));
        Assert.Equal(0, await server.MetricAsync("mimo_kv_cache_bytes"));
        Assert.Equal(1, await server.MetricAsync("mimo_requests_total{outcome=\"cancelled\"}"));
        Assert.True(await server.MetricAsync("mimo_generation_tokens_total") < LongTokens);

        // With its only slot free again, the next request is served at once.
        var (status, body, _) = await server.PostAsync("v1/chat/completions", Short);
        Assert.True(status == 200, body.ToString());
    }

    [Fact]
    public async Task ARequestPastTheTimeoutIsAnswered504AndStopped()
    {
        await using var server = await StartDefaultModelAsync(new EngineOptions { MaxRunningSequences = 2 },
            new ServerOptions { RequestTimeout = TimeSpan.FromMilliseconds(300) });
        var (status, body, _) = await server.PostAsync("v1/chat/completions", Long.Replace(",\"stream\":true", ""));
        Assert.Equal(504, status);
        Assert.Equal("request_timeout", body.GetProperty("error").GetProperty("code").GetString());
        Assert.Equal(0, await server.WaitForMetricAsync("mimo_running_sequences", v => v == 0));

        // Streaming: the status line is already sent, so the timeout arrives as an error event.
        using var stream = await Sse.StartAsync(server.Http, "v1/chat/completions", Long);
        string text = await stream.Content.ReadAsStringAsync();
        Assert.True(text.Contains("\"code\":\"request_timeout\""), text.Length > 600 ? text[..300] + " ... " + text[^300..] : text);
        Assert.Equal(0, await server.WaitForMetricAsync("mimo_running_sequences", v => v == 0));
    }

    [Fact]
    public async Task ARequestCancelledWhileQueuedLeavesTheQueue()
    {
        await using var server = await StartDefaultModelAsync(new EngineOptions { MaxRunningSequences = 1, MaxQueuedRequests = 4 });
        using var running = await StartRunningAsync(server);
        using var cancel = new CancellationTokenSource();
        var queued = server.PostAsync("v1/chat/completions", Short, cancel.Token);
        Assert.Equal(1, await server.WaitForMetricAsync("mimo_queue_depth", v => v == 1));
        cancel.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => queued);
        Assert.Equal(0, await server.WaitForMetricAsync("mimo_queue_depth", v => v == 0));
        Assert.Equal(1, await server.WaitForMetricAsync("mimo_requests_total{outcome=\"cancelled\"}", v => v == 1));
    }

    [Fact]
    public async Task MaxTokensAndContextLimitsAreEnforcedPerRequest()
    {
        await using var server = await ServerHost.StartAsync(new EngineOptions { MaxContextTokens = 64, MaxTokensLimit = 16 });
        var (status, body, _) = await server.PostAsync("v1/chat/completions", Short.Replace("\"max_tokens\":4", "\"max_tokens\":17"));
        Assert.Equal(400, status);
        Assert.Equal("max_tokens", body.GetProperty("error").GetProperty("param").GetString());

        string longPrompt = JsonSerializer.Serialize(new { messages = new[] { new { role = "user", content = string.Join(' ', Enumerable.Repeat("word", 80)) } } });
        (status, body, _) = await server.PostAsync("v1/chat/completions", longPrompt);
        Assert.Equal(400, status);
        Assert.Equal("context_length_exceeded", body.GetProperty("error").GetProperty("code").GetString());

        // Without max_tokens a request gets what the limits leave.
        (status, body, _) = await server.PostAsync("v1/chat/completions", """{"messages":[{"role":"user","content":"Hi"}],"temperature":0}""");
        Assert.True(status == 200, body.ToString());
        Assert.True(body.GetProperty("usage").GetProperty("completion_tokens").GetInt32() <= 16);
    }

    [Fact]
    public async Task ABodyOverTheSizeLimitIsA413()
    {
        await using var server = await ServerHost.StartAsync(new EngineOptions(), new ServerOptions { MaxRequestBodyBytes = 4096 });
        string big = JsonSerializer.Serialize(new { messages = new[] { new { role = "user", content = new string('a', 20_000) } } });
        var (status, json, _) = await server.PostAsync("v1/chat/completions", big);
        Assert.Equal(413, status);
        Assert.Equal("body_too_large", json.GetProperty("error").GetProperty("code").GetString());
    }
}

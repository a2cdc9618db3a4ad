using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Logging;
using MimoSharp.Server.Engine;
using MimoSharp.Server.Http;

namespace MimoSharp.Server.Tests.Support;

/// <summary>A real Kestrel server on 127.0.0.1 with a dynamic port, over an engine it owns.</summary>
public sealed class ServerHost : IAsyncDisposable
{
    private readonly WebApplication _app;

    private ServerHost(WebApplication app, MimoEngine engine, Uri baseUri)
    {
        _app = app;
        Engine = engine;
        BaseUri = baseUri;
        // A disposed, unfinished response must close its connection, as a client that goes away does; by default the
        // handler drains up to 1 MiB for 2 s to reuse it, which a fast model can fill by finishing the generation.
        Http = new HttpClient(new SocketsHttpHandler { MaxResponseDrainSize = 0 }) { BaseAddress = baseUri, Timeout = TimeSpan.FromMinutes(2) };
    }

    public MimoEngine Engine { get; }
    public Uri BaseUri { get; }

    /// <summary>The OpenAI clients' endpoint: BaseUri + "v1".</summary>
    public Uri ApiUri => new(BaseUri, "v1");
    public HttpClient Http { get; }

    public static Task<ServerHost> StartAsync(EngineOptions? engine = null, ServerOptions? server = null) =>
        StartAsync(MimoEngine.Load(TestModel.Dir, engine), server);

    public static async Task<ServerHost> StartAsync(MimoEngine engine, ServerOptions? server = null)
    {
        var options = (server ?? new ServerOptions()) with { Host = "127.0.0.1", Port = 0, LogLevel = LogLevel.Warning };
        var app = OpenAiServer.Create(engine, options);
        await app.StartAsync();
        string url = app.Urls.Single();
        Assert.StartsWith("http://127.0.0.1:", url);
        return new ServerHost(app, engine, new Uri(url + "/"));
    }

    public async Task<(int Status, JsonElement Body, HttpResponseMessage Response)> PostAsync(string path, string json, CancellationToken cancellation = default)
    {
        using var content = new StringContent(json, System.Text.Encoding.UTF8, "application/json");
        var response = await Http.PostAsync(path, content, cancellation);
        string text = await response.Content.ReadAsStringAsync(cancellation);
        var body = text.Length > 0 ? JsonDocument.Parse(text).RootElement.Clone() : default;
        return ((int)response.StatusCode, body, response);
    }

    /// <summary>Reads one gauge or counter from /metrics (the first series whose name and labels match).</summary>
    public async Task<double> MetricAsync(string series)
    {
        string text = await Http.GetStringAsync("metrics");
        foreach (string line in text.Split('\n'))
            if (line.StartsWith(series + " ", StringComparison.Ordinal))
                return double.Parse(line[(series.Length + 1)..], System.Globalization.CultureInfo.InvariantCulture);
        throw new InvalidOperationException($"/metrics has no series {series}:\n{text}");
    }

    /// <summary>Polls a metric until it satisfies the condition (the scheduler retires sequences between steps).</summary>
    public async Task<double> WaitForMetricAsync(string series, Func<double, bool> condition, TimeSpan? within = null)
    {
        var deadline = DateTime.UtcNow + (within ?? TimeSpan.FromSeconds(10));
        double value;
        while (!condition(value = await MetricAsync(series)) && DateTime.UtcNow < deadline) await Task.Delay(20);
        return value;
    }

    public async ValueTask DisposeAsync()
    {
        Http.Dispose();
        await _app.StopAsync();
        await _app.DisposeAsync();
        Engine.Dispose();
    }
}

using System.Diagnostics.Metrics;
using System.Net;
using System.Net.Sockets;
using System.Threading.RateLimiting;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.RateLimiting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using MimoSharp.Server.Engine;
using MimoSharp.Server.Metrics;

namespace MimoSharp.Server.Http;

/// <summary>
/// The OpenAI-compatible HTTP server on Kestrel: POST /v1/chat/completions and /v1/completions (JSON or
/// SSE), GET /v1/models, /health and /metrics, and the chat page at GET / (<see cref="ChatPage"/>). Every request shares the engine's continuous batch.
/// The engine is the caller's: stop the app, then dispose the engine.
/// </summary>
public static class OpenAiServer
{
    /// <summary>Builds the app; <c>await app.StartAsync()</c> then read the bound address from <c>app.Urls</c>.</summary>
    public static WebApplication Create(MimoEngine engine, ServerOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(engine);
        options ??= new ServerOptions();
        options.Validate();

        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { ContentRootPath = AppContext.BaseDirectory });
        builder.Logging.ClearProviders();
        if (options.LogLevel != LogLevel.None)
        {
            builder.Logging.AddSimpleConsole(o => o.SingleLine = true);
            builder.Logging.SetMinimumLevel(options.LogLevel);
            builder.Logging.AddFilter("Microsoft.AspNetCore", LogLevel.Warning);
        }
        builder.WebHost.UseUrls(Url(options.Host, options.Port));
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.AddServerHeader = false;
            k.Limits.MaxRequestBodySize = options.MaxRequestBodyBytes;
            k.Limits.MaxConcurrentConnections = options.MaxConnections;
        });
        int perMinute = options.EffectiveRequestsPerMinute;
        if (perMinute > 0)
            builder.Services.AddRateLimiter(limiter =>
            {
                // One fixed window per client address; a refused request gets an OpenAI-shaped 429.
                limiter.GlobalLimiter = PartitionedRateLimiter.Create<HttpContext, string>(context =>
                    RateLimitPartition.GetFixedWindowLimiter(context.Connection.RemoteIpAddress?.ToString() ?? "unknown",
                        _ => new FixedWindowRateLimiterOptions { PermitLimit = perMinute, Window = TimeSpan.FromMinutes(1), QueueLimit = 0 }));
                limiter.OnRejected = async (rejected, token) =>
                {
                    rejected.HttpContext.Response.Headers.RetryAfter = "60";
                    await ApiErrors.WriteAsync(rejected.HttpContext, 429,
                        $"more than {perMinute} requests per minute from this address; retry after a minute", null, "rate_limit_exceeded");
                };
            });
        builder.Services.AddSingleton(engine);
        // The meter factory owns the meter and the container the exporter: both go when the app is disposed.
        builder.Services.AddMetrics();
        builder.Services.AddSingleton(services => new ServerMetrics(services.GetRequiredService<IMeterFactory>(), engine));
        builder.Services.AddSingleton(services => new PrometheusExporter(services.GetRequiredService<ServerMetrics>().Meter));

        var app = builder.Build();
        var metrics = app.Services.GetRequiredService<ServerMetrics>();
        var exporter = app.Services.GetRequiredService<PrometheusExporter>();
        var runner = new RequestRunner(options, app.Lifetime.ApplicationStopping, app.Logger);
        var chat = new ChatCompletionsEndpoint(engine);
        var completions = new CompletionsEndpoint(engine);

        app.Use(async (context, next) =>
        {
            await next(context);
            metrics.RecordRequest(context.Request.Path.Value ?? "", context.Response.StatusCode);
        });
        if (perMinute > 0) app.UseRateLimiter();
        if (options.ApiKey is { } key)
        {
            var check = new ApiKeyCheck(key);
            app.Use(async (context, next) =>
            {
                if (ApiKeyCheck.IsPublic(context.Request.Path) || check.Accepts(context.Request.Headers.Authorization))
                {
                    await next(context);
                    return;
                }
                context.Response.Headers.WWWAuthenticate = "Bearer";
                await ApiErrors.WriteAsync(context, 401, "missing or wrong API key: send the header Authorization: Bearer <key>", null, "invalid_api_key");
            });
        }
        // Unknown paths and wrong methods get OpenAI-shaped errors too.
        app.UseStatusCodePages(async status =>
        {
            var context = status.HttpContext;
            string message = context.Response.StatusCode == 405
                ? $"{context.Request.Method} is not allowed on {context.Request.Path}"
                : $"no such endpoint: {context.Request.Method} {context.Request.Path}";
            await ApiErrors.WriteAsync(context, context.Response.StatusCode, message, null,
                context.Response.StatusCode == 405 ? "method_not_allowed" : "not_found");
        });

        app.MapPost("/v1/chat/completions", context => runner.RunAsync(context, chat.HandleAsync));
        app.MapPost("/v1/completions", context => runner.RunAsync(context, completions.HandleAsync));
        app.MapGet("/v1/models", context => Json(context, OpenAiJson.Models(engine)));
        app.MapGet("/v1/models/{id}", context =>
            (string?)context.Request.RouteValues["id"] == engine.ModelId
                ? Json(context, OpenAiJson.Model(engine))
                : ApiErrors.WriteAsync(context, 404, $"the model '{context.Request.RouteValues["id"]}' does not exist; this server serves '{engine.ModelId}'",
                    "model", "model_not_found"));
        app.MapGet("/health", context => Json(context, OpenAiJson.Health(engine)));
        app.MapGet("/metrics", async context =>
        {
            context.Response.ContentType = PrometheusExporter.ContentType;
            await context.Response.WriteAsync(exporter.Render());
        });
        if (options.ChatPage) ChatPage.Map(app);
        return app;
    }

    private static async Task Json(HttpContext context, byte[] body)
    {
        context.Response.ContentType = "application/json";
        await context.Response.Body.WriteAsync(body);
    }

    private static string Url(string host, int port) =>
        IPAddress.TryParse(host, out var ip) && ip.AddressFamily == AddressFamily.InterNetworkV6
            ? $"http://[{host}]:{port}"
            : $"http://{host}:{port}";
}

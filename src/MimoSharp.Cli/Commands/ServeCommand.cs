using System.CommandLine;
using MimoSharp.Server.Engine;
using MimoSharp.Server.Http;

namespace MimoSharp.Cli.Commands;

/// <summary><c>mimo serve</c>: the OpenAI-compatible HTTP server over one model, with continuous batching.</summary>
internal static class ServeCommand
{
    public static Command Create()
    {
        var model = Cli.ModelOption();
        var e = new EngineOptions();
        var s = new ServerOptions();
        var host = new Option<string>("--host") { Description = "address to listen on", DefaultValueFactory = _ => s.Host };
        var port = new Option<int>("--port", "-p") { Description = "TCP port (0 = any free port)", DefaultValueFactory = _ => s.Port };
        var name = new Option<string?>("--served-model-name") { Description = "the \"model\" name clients send (default: the model folder's name)" };
        var maxRunning = new Option<int>("--max-running") { Description = "sequences decoded together in one batch", DefaultValueFactory = _ => e.MaxRunningSequences };
        var maxQueue = new Option<int>("--max-queue") { Description = "requests that may wait for a slot; beyond, HTTP 429", DefaultValueFactory = _ => e.MaxQueuedRequests };
        var maxContext = new Option<int?>("--max-context") { Description = "prompt + completion tokens per request (default: max_position_embeddings)" };
        var maxTokens = new Option<int?>("--max-tokens-limit") { Description = "largest max_tokens a request may ask for (default: the context)" };
        var timeout = new Option<double>("--timeout") { Description = "seconds one request may take, queueing included (then 504)", DefaultValueFactory = _ => s.RequestTimeout.TotalSeconds };
        var speculative = new Option<int?>("--speculative") { Description = "MTP drafts per step, fixed (0 = off). Default: adaptive up to every MTP layer for greedy and unseeded requests, plain for seeded sampling" };
        var adaptive = new Option<bool>("--adaptive-speculation") { Description = "choose the draft depth per step from measured costs (greedy and unseeded requests only)" };
        var apiKey = new Option<string?>("--api-key") { Description = "key clients must send as 'Authorization: Bearer KEY' (default: $MIMO_API_KEY; none = open)" };
        var maxConnections = new Option<int>("--max-connections") { Description = "open TCP connections accepted at once", DefaultValueFactory = _ => s.MaxConnections };
        var rateLimit = new Option<int?>("--rate-limit") { Description = $"requests per minute per client address, 0 = unlimited (default: unlimited on loopback, {ServerOptions.PublicRequestsPerMinute} otherwise)" };
        var maxBody = new Option<int>("--max-body-kb") { Description = "largest request body in KiB (413 beyond)", DefaultValueFactory = _ => (int)(s.MaxRequestBodyBytes / 1024) };
        var noChatPage = new Option<bool>("--no-chat-page") { Description = "do not serve the browser chat page at GET / (API only)" };
        var threads = Cli.ThreadsOption();
        var kvCache = Cli.KvCacheOption();
        var cmd = new Command("serve", "serve a model over an OpenAI-compatible HTTP API (chat/completions, completions, models, health, metrics)")
            { model, host, port, name, maxRunning, maxQueue, maxContext, maxTokens, timeout, speculative, adaptive, apiKey, maxConnections, rateLimit, maxBody, noChatPage, threads, kvCache };
        cmd.SetAction(r => Cli.Run(() =>
        {
            var engineOptions = new EngineOptions
            {
                ModelId = r.GetValue(name),
                MaxRunningSequences = r.GetValue(maxRunning),
                MaxQueuedRequests = r.GetValue(maxQueue),
                MaxContextTokens = r.GetValue(maxContext),
                MaxTokensLimit = r.GetValue(maxTokens),
                Speculative = r.GetValue(speculative),
                AdaptiveSpeculation = r.GetValue(adaptive),
                Threads = Cli.Threads(r, threads),
                KvCache = Cli.KvCache(r.GetValue(kvCache)!),
            };
            double seconds = r.GetValue(timeout);
            if (!(seconds > 0) || double.IsInfinity(seconds))
                throw new ArgumentException($"--timeout must be a positive number of seconds, got {seconds}");
            var serverOptions = new ServerOptions
            {
                Host = r.GetValue(host)!,
                Port = r.GetValue(port),
                RequestTimeout = TimeSpan.FromSeconds(seconds),
                ChatPage = !r.GetValue(noChatPage),
                ApiKey = r.GetValue(apiKey) ?? Environment.GetEnvironmentVariable("MIMO_API_KEY"),
                MaxConnections = r.GetValue(maxConnections),
                RequestsPerMinutePerClient = r.GetValue(rateLimit),
                MaxRequestBodyBytes = (long)r.GetValue(maxBody) * 1024,
            };
            NamingFlags(() =>
            {
                serverOptions.Validate();
                engineOptions.Validate();
            });

            string dir = Cli.ResolveModel(r.GetValue(model));
            MimoEngine? loaded = null;
            NamingFlags(() => loaded = MimoEngine.Load(dir, engineOptions));
            using var engine = loaded!;
            var app = OpenAiServer.Create(engine, serverOptions);
            app.Lifetime.ApplicationStarted.Register(() => Console.Error.WriteLine(
                $"mimo serve: '{engine.ModelId}' from {dir} on {string.Join(", ", app.Urls)} " +
                $"(context {engine.ContextLength}, {engineOptions.MaxRunningSequences} running / {engineOptions.MaxQueuedRequests} queued, " +
                (engineOptions.Speculative is null ? $"adaptive MTP drafts, up to {engine.SpeculativeDepth} per step); " : $"{engine.SpeculativeDepth} MTP drafts per step); ") +
                (serverOptions.ChatPage ? $"chat page at {app.Urls.First()}/; " : "") + "Ctrl+C stops"));
            if (!serverOptions.IsLoopback && serverOptions.ApiKey is null)
                Console.Error.WriteLine($"mimo serve: warning: listening on {serverOptions.Host} without an API key: anyone who can reach this " +
                    "address can use the model; pass --api-key (or set MIMO_API_KEY)");
            app.Run();
            return 0;
        }));
        return cmd;
    }

    /// <summary>Runs a check whose errors name option properties, renaming them to the flags a user typed.</summary>
    private static void NamingFlags(Action check)
    {
        try
        {
            check();
        }
        catch (ArgumentException e) when (Flag(e.ParamName) is string flag)
        {
            throw new ArgumentException($"{flag}: {e.Message.Replace($" (Parameter '{e.ParamName}')", "")}");
        }
    }

    private static string? Flag(string? property) => property switch
    {
        nameof(EngineOptions.MaxRunningSequences) => "--max-running",
        nameof(EngineOptions.MaxQueuedRequests) => "--max-queue",
        nameof(EngineOptions.MaxContextTokens) => "--max-context",
        nameof(EngineOptions.MaxTokensLimit) => "--max-tokens-limit",
        nameof(EngineOptions.Speculative) => "--speculative",
        nameof(EngineOptions.ModelId) => "--served-model-name",
        nameof(EngineOptions.Threads) => "--threads",
        nameof(ServerOptions.Host) => "--host",
        nameof(ServerOptions.Port) => "--port",
        nameof(ServerOptions.ApiKey) => "--api-key",
        nameof(ServerOptions.MaxConnections) => "--max-connections",
        nameof(ServerOptions.RequestsPerMinutePerClient) => "--rate-limit",
        nameof(ServerOptions.MaxRequestBodyBytes) => "--max-body-kb",
        _ => null,
    };
}

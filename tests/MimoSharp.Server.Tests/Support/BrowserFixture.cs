using Microsoft.Playwright;
using MimoSharp.Server.Engine;

namespace MimoSharp.Server.Tests.Support;

/// <summary>
/// One real server on a free loopback port with the model this repository ships (models/default), and one
/// headless chromium — Debian's, at /usr/bin/chromium or $MIMO_CHROMIUM; never downloaded. A missing browser
/// fails the tests (CI installs it in .ci/run); it does not skip them.
/// </summary>
public sealed class BrowserFixture : IAsyncLifetime
{
    private IPlaywright? _playwright;

    public ServerHost Server { get; private set; } = null!;
    public IBrowser Browser { get; private set; } = null!;

    public static string ChromiumPath => Environment.GetEnvironmentVariable("MIMO_CHROMIUM") is { Length: > 0 } path ? path : "/usr/bin/chromium";

    public static string DefaultModelDir => Path.Combine(TestModel.RepoRoot, "models", "default");

    public async Task InitializeAsync()
    {
        if (!File.Exists(ChromiumPath))
            throw new InvalidOperationException(
                $"the chat page tests need chromium at {ChromiumPath}: install it (apt-get install chromium; .ci/run does) or set MIMO_CHROMIUM");
        Server = await ServerHost.StartAsync(MimoEngine.Load(DefaultModelDir, new EngineOptions { ModelId = "default", MaxRunningSequences = 4 }));
        _playwright = await Playwright.CreateAsync();
        Browser = await _playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions { ExecutablePath = ChromiumPath, Headless = true });
    }

    /// <summary>A fresh browser context (its own localStorage) and page that record console errors and every request.</summary>
    public async Task<PageSession> OpenAsync(bool load = true)
    {
        var context = await Browser.NewContextAsync(new BrowserNewContextOptions
        {
            BaseURL = Server.BaseUri.ToString(),
            ViewportSize = new ViewportSize { Width = 1280, Height = 800 },
            Permissions = ["clipboard-read", "clipboard-write"],
        });
        var session = new PageSession(context, await context.NewPageAsync(), Server.BaseUri);
        if (load) await session.LoadAsync();
        return session;
    }

    public async Task DisposeAsync()
    {
        if (Browser is not null) await Browser.CloseAsync();
        _playwright?.Dispose();
        if (Server is not null) await Server.DisposeAsync();
    }
}

/// <summary>One page of the chat UI in its own context, with what it logged and asked for.</summary>
public sealed class PageSession : IAsyncDisposable
{
    private readonly IBrowserContext _context;

    public PageSession(IBrowserContext context, IPage page, Uri server)
    {
        _context = context;
        Page = page;
        Server = server;
        page.Console += (_, message) =>
        {
            if (message.Type == "error") lock (Errors) Errors.Add($"console error: {message.Text}");
        };
        page.PageError += (_, error) => { lock (Errors) Errors.Add($"page error: {error}"); };
        page.Request += (_, request) => { lock (Requests) Requests.Add(request.Url); };
        page.RequestFailed += (_, request) =>
        {
            // A stream the Stop button aborted is the one failure we expect.
            if (!request.Url.EndsWith("/v1/chat/completions", StringComparison.Ordinal)) lock (Errors) Errors.Add($"request failed: {request.Url} {request.Failure}");
        };
    }

    public IPage Page { get; }
    public Uri Server { get; }
    public List<string> Errors { get; } = [];
    public List<string> Requests { get; } = [];

    public async Task LoadAsync()
    {
        await Page.GotoAsync("/");
        await Page.WaitForSelectorAsync("body[data-ready=true]");
        await Assertions.Expect(Page.Locator("#model-name")).ToContainTextAsync("default");
    }

    public ILocator Assistant => Page.Locator(".message.assistant").Last;

    /// <summary>Types a message and presses Enter.</summary>
    public async Task SendAsync(string text)
    {
        await Page.Locator("#input").FillAsync(text);
        await Page.Locator("#input").PressAsync("Enter");
    }

    /// <summary>Waits for the last reply to end with the given status (done, stopped or error).</summary>
    public async Task WaitForReplyAsync(string status = "done", float timeoutMs = 60_000) =>
        await Page.WaitForSelectorAsync($".message.assistant:last-child[data-status={status}]", new PageWaitForSelectorOptions { Timeout = timeoutMs });

    /// <summary>Answers /v1/chat/completions with a fixed SSE stream (for output a real model will not produce) and records request bodies.</summary>
    public async Task<List<string>> FakeCompletionsAsync(params object[] chunks)
    {
        var bodies = new List<string>();
        var sse = new System.Text.StringBuilder();
        foreach (var chunk in chunks) sse.Append("data: ").Append(System.Text.Json.JsonSerializer.Serialize(chunk)).Append("\n\n");
        sse.Append("data: [DONE]\n\n");
        await Page.RouteAsync("**/v1/chat/completions", async route =>
        {
            lock (bodies) bodies.Add(route.Request.PostData ?? "");
            await route.FulfillAsync(new RouteFulfillOptions { Status = 200, ContentType = "text/event-stream", Body = sse.ToString() });
        });
        return bodies;
    }

    public async ValueTask DisposeAsync() => await _context.CloseAsync();
}

using System.Text.Json;
using Microsoft.Playwright;
using MimoSharp.Server.Tests.Support;
using static Microsoft.Playwright.Assertions;

namespace MimoSharp.Server.Tests.Browser;

/// <summary>
/// The chat page in headless chromium against a real server with the shipped default model. Output a real
/// model will not produce (reasoning, tool calls, hostile markup) comes from a fixed stream served by route
/// interception of /v1/chat/completions.
/// </summary>
public sealed class ChatPageBrowserTests(BrowserFixture fixture) : IClassFixture<BrowserFixture>
{
    private static object Delta(object delta, string? finish = null) => new
    {
        id = "chatcmpl-fake",
        @object = "chat.completion.chunk",
        created = 0,
        model = "default",
        choices = new[] { new { index = 0, delta, finish_reason = finish } },
    };

    private static object Usage(int tokens, double tokensPerSecond = 345.6, double ttft = 78, double acceptance = 2.5, int depth = 3) => new
    {
        id = "chatcmpl-fake",
        @object = "chat.completion.chunk",
        choices = Array.Empty<object>(),
        usage = new
        {
            prompt_tokens = 20,
            completion_tokens = tokens,
            total_tokens = 20 + tokens,
            mimo = new { time_to_first_token_ms = ttft, tokens_per_second = tokensPerSecond, decode_steps = 4, acceptance_length = acceptance, draft_depth = depth },
        },
    };

    [Fact]
    public async Task PageLoadsWithoutConsoleErrorsAndNoRequestLeavesLoopback()
    {
        await using var session = await fixture.OpenAsync(load: false);
        var routed = new List<string>();
        string origin = session.Server.GetLeftPart(UriPartial.Authority);
        // Every request passes through here; one to anywhere but this server is refused and recorded.
        await session.Page.RouteAsync("**/*", async route =>
        {
            lock (routed) routed.Add(route.Request.Url);
            if (route.Request.Url.StartsWith(origin + "/", StringComparison.Ordinal)) await route.ContinueAsync();
            else await route.AbortAsync();
        });
        await session.LoadAsync();
        await session.SendAsync("Tell me about the sea.");
        await session.WaitForReplyAsync();
        await Expect(session.Assistant.Locator(".content")).Not.ToBeEmptyAsync();

        Assert.Empty(session.Errors);
        Assert.NotEmpty(routed);
        Assert.All(session.Requests, url => Assert.StartsWith("http://127.0.0.1:", url));
        Assert.All(routed, url => Assert.StartsWith(origin + "/", url));
        foreach (string path in new[] { "/", "/chat.js", "/markdown.js", "/chat.css", "/v1/models", "/v1/chat/completions" })
            Assert.Contains(origin + path, session.Requests);
    }

    [Fact]
    public async Task ATypedMessageStreamsAReplyWithItsFigures()
    {
        await using var session = await fixture.OpenAsync();
        var bodies = new List<string>();
        session.Page.Request += (_, r) => { if (r.Url.EndsWith("/v1/chat/completions", StringComparison.Ordinal)) lock (bodies) bodies.Add(r.PostData ?? ""); };
        await session.Page.Locator("#max-tokens").FillAsync("48");
        await session.Page.Locator("#max-tokens").DispatchEventAsync("change");
        await session.SendAsync("Once upon a time");
        await session.WaitForReplyAsync();

        await Expect(session.Page.Locator(".message.user .content")).ToHaveTextAsync("Once upon a time");
        await Expect(session.Assistant.Locator(".content")).Not.ToBeEmptyAsync();
        string stats = await session.Assistant.Locator(".stats").InnerTextAsync();
        Assert.Matches(@"^\d+ tokens · [\d.]+ tok/s · TTFT \d+ ms · acceptance [\d.]+ \(MTP 3\)", stats);

        // What went to the server: streaming with usage, the model card's sampling and system prompt, thinking off.
        var request = JsonDocument.Parse(Assert.Single(bodies)).RootElement;
        Assert.True(request.GetProperty("stream").GetBoolean());
        Assert.True(request.GetProperty("stream_options").GetProperty("include_usage").GetBoolean());
        Assert.Equal(0.8, request.GetProperty("temperature").GetDouble());
        Assert.Equal(0.95, request.GetProperty("top_p").GetDouble());
        Assert.Equal(48, request.GetProperty("max_tokens").GetInt32());
        Assert.False(request.GetProperty("chat_template_kwargs").GetProperty("enable_thinking").GetBoolean());
        var system = request.GetProperty("messages")[0];
        Assert.Equal("system", system.GetProperty("role").GetString());
        var today = DateTime.Now;
        Assert.Equal($"You are MiMo, an AI assistant developed by Xiaomi.\n\nToday's date: {today:yyyy-MM-dd} {today.DayOfWeek}. " +
                     "Your knowledge cutoff date is December 2024.", system.GetProperty("content").GetString());
        Assert.Empty(session.Errors);
    }

    [Fact]
    public async Task StopCancelsTheStreamAndTheServerFreesTheSlot()
    {
        await using var session = await fixture.OpenAsync();
        await session.Page.Locator("#max-tokens").FillAsync("3000");
        await session.Page.Locator("#max-tokens").DispatchEventAsync("change");
        // Tokens appear while the reply is still streaming. The model samples and may (rarely) end its answer
        // early; then ask again.
        for (int attempt = 0; ; attempt++)
        {
            await session.SendAsync("Call me Ishmael. Some years ago");
            string seen = await (await session.Page.WaitForFunctionAsync(
                "() => { const m = document.querySelector('.message.assistant:last-child'); if (!m) return false; " +
                "if (m.dataset.status !== 'streaming') return m.dataset.status; " +
                "const c = m.querySelector('.content'); return c !== null && c.textContent.length > 20 ? 'streaming' : false; }",
                null, new PageWaitForFunctionOptions { Timeout = 60_000, PollingInterval = 10 })).JsonValueAsync<string>();
            if (seen == "streaming") break;
            Assert.True(attempt < 4, $"five replies ended ({seen}) before 20 characters had streamed");
        }
        await Expect(session.Page.Locator("#stop")).ToBeVisibleAsync();
        Assert.Equal(1, await fixture.Server.MetricAsync("mimo_running_sequences"));
        await session.Page.Locator("#stop").ClickAsync();

        await session.WaitForReplyAsync("stopped", 10_000);
        await Expect(session.Page.Locator("#send")).ToBeVisibleAsync();
        await Expect(session.Page.Locator("#stop")).ToBeHiddenAsync();
        await Expect(session.Assistant.Locator(".stats")).ToContainTextAsync("stopped");
        Assert.Equal(0, await fixture.Server.WaitForMetricAsync("mimo_running_sequences", v => v == 0));
        Assert.Equal(0, await fixture.Server.MetricAsync("mimo_kv_cache_bytes"));
        Assert.Empty(session.Errors);
    }

    [Fact]
    public async Task ThinkingOnAsksForItAndShowsTheReasoningInACollapsibleBlock()
    {
        await using var session = await fixture.OpenAsync();
        var bodies = await session.FakeCompletionsAsync(
            Delta(new { role = "assistant", content = "" }),
            Delta(new { reasoning_content = "97 is odd; " }),
            Delta(new { reasoning_content = "no prime up to 9 divides it." }),
            Delta(new { content = "Yes, **97** is prime." }),
            Delta(new { }, "stop"),
            Usage(14));
        await session.Page.Locator("#thinking").CheckAsync();
        await session.SendAsync("Is 97 prime?");
        await session.WaitForReplyAsync();

        var request = JsonDocument.Parse(Assert.Single(bodies)).RootElement;
        Assert.True(request.GetProperty("chat_template_kwargs").GetProperty("enable_thinking").GetBoolean());
        var reasoning = session.Assistant.Locator("details.reasoning");
        await Expect(reasoning.Locator(".reasoning-text")).ToHaveTextAsync("97 is odd; no prime up to 9 divides it.");
        await Expect(reasoning.Locator("summary")).ToHaveTextAsync("Reasoning");
        await Expect(session.Assistant.Locator(".content")).ToHaveTextAsync("Yes, 97 is prime.");
        await Expect(session.Assistant.Locator(".content strong")).ToHaveTextAsync("97");
        Assert.False(await reasoning.EvaluateAsync<bool>("d => d.open"));
        await reasoning.Locator("summary").ClickAsync();
        Assert.True(await reasoning.EvaluateAsync<bool>("d => d.open"));
        await Expect(session.Assistant.Locator(".stats")).ToHaveTextAsync("14 tokens · 345.6 tok/s · TTFT 78 ms · acceptance 2.50 (MTP 3)");
        // Thinking stays on for the next visit.
        await session.Page.ReloadAsync();
        Assert.True(await session.Page.Locator("#thinking").IsCheckedAsync());
        Assert.Empty(session.Errors);
    }

    [Fact]
    public async Task ToolCallsAreShownAsToolCalls()
    {
        await using var session = await fixture.OpenAsync();
        await session.FakeCompletionsAsync(
            Delta(new { role = "assistant", content = "" }),
            Delta(new { tool_calls = new[] { new { index = 0, id = "call_1", type = "function", function = new { name = "get_weather", arguments = "{\"city\":" } } } }),
            Delta(new { tool_calls = new[] { new { index = 0, function = new { arguments = "\"Paris\"}" } } } }),
            Delta(new { }, "tool_calls"),
            Usage(9));
        await session.SendAsync("Weather in Paris?");
        await session.WaitForReplyAsync();
        var call = session.Assistant.Locator(".tool-call");
        await Expect(call).ToHaveCountAsync(1);
        await Expect(call.Locator(".tool-name")).ToHaveTextAsync("Tool call: get_weather");
        await Expect(call.Locator("pre")).ToHaveTextAsync("{\n  \"city\": \"Paris\"\n}");
        Assert.Empty(session.Errors);
    }

    [Fact]
    public async Task HostileModelOutputIsShownAsTextAndNeverRuns()
    {
        await using var session = await fixture.OpenAsync();
        const string hostile = "<img src=x onerror=\"window.__pwned=1\"><script>window.__pwned=2</script>\n\n" +
                               "[click me](javascript:window.__pwned=3) and [ok](https://example.org/a)\n\n" +
                               "**bold <b onmouseover=window.__pwned=4>x</b>**\n\n```html\n<iframe src=\"javascript:window.__pwned=5\"></iframe>\n```\n" +
                               "<svg onload=window.__pwned=6></svg>";
        await session.FakeCompletionsAsync(
            Delta(new { role = "assistant", content = "" }),
            Delta(new { reasoning_content = "<img src=y onerror=window.__pwned=7>" }),
            Delta(new { content = hostile[..40] }),
            Delta(new { content = hostile[40..] }),
            Delta(new { tool_calls = new[] { new { index = 0, id = "c", type = "function", function = new { name = "<img src=z onerror=window.__pwned=8>", arguments = "{}" } } } }),
            Delta(new { }, "stop"),
            Usage(60));
        await session.SendAsync("<img src=u onerror=window.__pwned=9>");
        await session.WaitForReplyAsync();

        for (int pass = 0; pass < 2; pass++)
        {
            var messages = session.Page.Locator("#messages");
            await Expect(messages.Locator("img, script, iframe, svg, b[onmouseover]")).ToHaveCountAsync(0);
            await Expect(messages.Locator("a[href^='javascript']")).ToHaveCountAsync(0);
            await Expect(session.Assistant.Locator(".content")).ToContainTextAsync("<img src=x onerror=\"window.__pwned=1\"><script>window.__pwned=2</script>");
            await Expect(session.Assistant.Locator(".content")).ToContainTextAsync("[click me](javascript:window.__pwned=3)");
            await Expect(session.Assistant.Locator(".content strong")).ToHaveTextAsync("bold <b onmouseover=window.__pwned=4>x</b>");
            await Expect(session.Assistant.Locator(".content pre code")).ToHaveTextAsync("<iframe src=\"javascript:window.__pwned=5\"></iframe>");
            await Expect(session.Assistant.Locator(".reasoning-text")).ToHaveTextAsync("<img src=y onerror=window.__pwned=7>");
            await Expect(session.Assistant.Locator(".tool-name")).ToHaveTextAsync("Tool call: <img src=z onerror=window.__pwned=8>");
            await Expect(session.Page.Locator(".message.user .content")).ToHaveTextAsync("<img src=u onerror=window.__pwned=9>");
            // The one safe link is a real link that opens apart from this page.
            var link = session.Assistant.Locator(".content a");
            await Expect(link).ToHaveCountAsync(1);
            await Expect(link).ToHaveAttributeAsync("href", "https://example.org/a");
            await Expect(link).ToHaveAttributeAsync("rel", "noopener noreferrer nofollow");
            Assert.True(await session.Page.EvaluateAsync<bool>("() => window.__pwned === undefined"));
            // Again from localStorage after a reload.
            if (pass == 0) await session.Page.ReloadAsync();
        }
        Assert.Empty(session.Errors);
    }

    [Fact]
    public async Task MarkdownAndCodeBlocksRenderAndCopyCopiesTheMessage()
    {
        await using var session = await fixture.OpenAsync();
        const string answer = "## Plan\n\n1. first\n2. second\n\n- a `x` b\n\n> quoted\n\n```python\nprint(\"hi\")\n```";
        await session.FakeCompletionsAsync(Delta(new { content = answer }), Delta(new { }, "stop"), Usage(30));
        await session.SendAsync("Show me");
        await session.WaitForReplyAsync();
        var content = session.Assistant.Locator(".content");
        await Expect(content.Locator("h4")).ToHaveTextAsync("Plan");
        await Expect(content.Locator("ol li")).ToHaveTextAsync(["first", "second"]);
        await Expect(content.Locator("ul li code")).ToHaveTextAsync("x");
        await Expect(content.Locator("blockquote")).ToHaveTextAsync("quoted");
        await Expect(content.Locator(".code-block .code-bar span")).ToHaveTextAsync("python");
        await Expect(content.Locator(".code-block pre code")).ToHaveTextAsync("print(\"hi\")");

        await session.Assistant.Locator(".footer .copy").ClickAsync();
        await Expect(session.Assistant.Locator(".footer .copy")).ToHaveTextAsync("Copied");
        Assert.Equal(answer, await session.Page.EvaluateAsync<string>("() => navigator.clipboard.readText()"));
        await content.Locator(".copy-code").ClickAsync();
        Assert.Equal("print(\"hi\")", await session.Page.EvaluateAsync<string>("() => navigator.clipboard.readText()"));
        Assert.Empty(session.Errors);
    }

    [Fact]
    public async Task ConversationsPersistAcrossReloadAndNewChatStartsAfresh()
    {
        await using var session = await fixture.OpenAsync();
        var bodies = await session.FakeCompletionsAsync(Delta(new { content = "First answer." }), Delta(new { }, "stop"), Usage(3));
        await session.SendAsync("First question");
        await session.WaitForReplyAsync();
        await session.SendAsync("Second question");
        await session.WaitForReplyAsync();
        // The second request carries the whole conversation.
        var second = JsonDocument.Parse(bodies[1]).RootElement.GetProperty("messages");
        Assert.Equal(["system", "user", "assistant", "user"], second.EnumerateArray().Select(m => m.GetProperty("role").GetString()!));
        Assert.Equal("First answer.", second[2].GetProperty("content").GetString());

        await session.Page.ReloadAsync();
        await Expect(session.Page.Locator(".message")).ToHaveCountAsync(4);
        await Expect(session.Page.Locator("#conversations li")).ToHaveTextAsync(["First question×"]);

        await session.Page.Locator("#new-chat").ClickAsync();
        await Expect(session.Page.Locator(".message")).ToHaveCountAsync(0);
        await Expect(session.Page.Locator("#conversations li")).ToHaveCountAsync(2);
        await session.SendAsync("Another topic");
        await session.WaitForReplyAsync();
        var third = JsonDocument.Parse(bodies[2]).RootElement.GetProperty("messages");
        Assert.Equal(2, third.GetArrayLength());   // system + this question only

        await session.Page.Locator("#conversations li .open", new PageLocatorOptions { HasText = "First question" }).ClickAsync();
        await Expect(session.Page.Locator(".message.user .content")).ToHaveTextAsync(["First question", "Second question"]);
        Assert.Empty(session.Errors);
    }

    [Fact]
    public async Task EnterSendsAndShiftEnterAddsALine()
    {
        await using var session = await fixture.OpenAsync();
        var bodies = await session.FakeCompletionsAsync(Delta(new { content = "ok" }), Delta(new { }, "stop"), Usage(1));
        var input = session.Page.Locator("#input");
        await input.PressSequentiallyAsync("line one");
        await input.PressAsync("Shift+Enter");
        await input.PressSequentiallyAsync("line two");
        await Expect(input).ToHaveValueAsync("line one\nline two");
        await Expect(session.Page.Locator(".message")).ToHaveCountAsync(0);
        await input.PressAsync("Enter");
        await session.WaitForReplyAsync();
        await Expect(input).ToHaveValueAsync("");
        await Expect(session.Page.Locator(".message.user .content")).ToHaveTextAsync("line one\nline two");
        Assert.Equal("line one\nline two", JsonDocument.Parse(Assert.Single(bodies)).RootElement.GetProperty("messages")[1].GetProperty("content").GetString());
        Assert.Empty(session.Errors);
    }

    [Fact]
    public async Task SettingsAndPresetsGoIntoTheRequest()
    {
        await using var session = await fixture.OpenAsync();
        var bodies = await session.FakeCompletionsAsync(Delta(new { content = "ok" }), Delta(new { }, "stop"), Usage(1));
        await session.Page.Locator("#preset-agentic").ClickAsync();
        await session.Page.Locator("#system-prompt").FillAsync("You are terse.");
        await session.Page.Locator("#system-prompt").DispatchEventAsync("change");
        await session.SendAsync("Hi");
        await session.WaitForReplyAsync();
        var request = JsonDocument.Parse(Assert.Single(bodies)).RootElement;
        Assert.Equal(0.3, request.GetProperty("temperature").GetDouble());
        Assert.Equal(0.95, request.GetProperty("top_p").GetDouble());
        Assert.Equal("You are terse.", request.GetProperty("messages")[0].GetProperty("content").GetString());

        await session.Page.ReloadAsync();
        await Expect(session.Page.Locator("#system-prompt")).ToHaveValueAsync("You are terse.");
        await Expect(session.Page.Locator("#temperature")).ToHaveValueAsync("0.3");
        await session.Page.Locator("#reset-system").ClickAsync();
        await Expect(session.Page.Locator("#system-prompt")).ToHaveValueAsync(new System.Text.RegularExpressions.Regex("^You are MiMo, an AI assistant developed by Xiaomi\\."));
        Assert.Empty(session.Errors);
    }

    [Fact]
    public async Task AServerErrorIsShownInTheReply()
    {
        await using var session = await fixture.OpenAsync();
        await session.Page.Locator("#temperature").FillAsync("5");
        await session.Page.Locator("#temperature").DispatchEventAsync("change");
        await session.SendAsync("Hi");
        await session.WaitForReplyAsync("error");
        await Expect(session.Assistant.Locator(".error")).ToContainTextAsync("temperature");
        // The browser logs the 400 response itself; nothing else may go wrong.
        Assert.All(session.Errors, e => Assert.Contains("400", e));
    }

    /// <summary>
    /// A conversation with the real default model, saved as a PNG: to $MIMO_CHAT_SCREENSHOT when set
    /// (scripts/screenshot-chat.sh writes docs/images/chat-page.png), else to a temporary file.
    /// </summary>
    [Fact]
    public async Task ScreenshotOfAConversation()
    {
        await using var session = await fixture.OpenAsync();
        await session.Page.Locator("#max-tokens").FillAsync("60");
        await session.Page.Locator("#max-tokens").DispatchEventAsync("change");
        await session.SendAsync("Tell me about the whale.");
        await session.WaitForReplyAsync();
        await session.SendAsync("And the ship?");
        await session.WaitForReplyAsync();
        string path = Environment.GetEnvironmentVariable("MIMO_CHAT_SCREENSHOT") is { Length: > 0 } p
            ? Path.GetFullPath(p)
            : Path.Combine(Path.GetTempPath(), $"mimo-chat-{Guid.NewGuid():N}.png");
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        await session.Page.ScreenshotAsync(new PageScreenshotOptions { Path = path });
        Assert.True(new FileInfo(path).Length > 10_000);
        if (Environment.GetEnvironmentVariable("MIMO_CHAT_SCREENSHOT") is not { Length: > 0 }) File.Delete(path);
        Assert.Empty(session.Errors);
    }
}

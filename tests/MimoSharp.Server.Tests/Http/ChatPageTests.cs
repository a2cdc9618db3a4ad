using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using MimoSharp.Server.Engine;
using MimoSharp.Server.Http;
using MimoSharp.Server.Tests.Support;

namespace MimoSharp.Server.Tests.Http;

/// <summary>The chat page's assets over HTTP (the browser tests drive the page itself), and usage.mimo.</summary>
public sealed partial class ChatPageTests
{
    [GeneratedRegex(@"(?:https?:)?//[A-Za-z0-9.\-\[\]:]+", RegexOptions.IgnoreCase)]
    private static partial Regex AnyUrl();

    [GeneratedRegex(@"(?:src|href)=""([^""]+)""")]
    private static partial Regex Referenced();

    // Names, not places: the SVG namespace is never fetched.
    private static readonly string[] AllowedUrls = ["http://www.w3.org"];

    private static Task<ServerHost> StartAsync(ServerOptions? options = null) =>
        ServerHost.StartAsync(ScriptedQueue.Answering("Hello there.", out _), options);

    [Fact]
    public async Task RootServesThePageWithAStrictContentSecurityPolicy()
    {
        await using var server = await StartAsync();
        using var response = await server.Http.GetAsync("");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/html", response.Content.Headers.ContentType!.MediaType);
        string csp = Assert.Single(response.Headers.GetValues("Content-Security-Policy"));
        Assert.Contains("default-src 'self'", csp);
        Assert.Contains("script-src 'self';", csp);
        Assert.DoesNotContain("unsafe-inline", csp);
        Assert.DoesNotContain("unsafe-eval", csp);
        Assert.Contains("connect-src 'self'", csp);
        Assert.Contains("frame-ancestors 'none'", csp);
        Assert.Equal("nosniff", Assert.Single(response.Headers.GetValues("X-Content-Type-Options")));
        string html = await response.Content.ReadAsStringAsync();
        Assert.Contains("<script type=\"module\" src=\"/chat.js\"></script>", html);
        // No inline script or style: the policy would block them.
        Assert.DoesNotMatch(@"<script(?![^>]*\ssrc=)", html);
        Assert.DoesNotContain(" style=", html);
        Assert.DoesNotContain("<style", html);
    }

    [Theory]
    [InlineData("chat.js", "text/javascript")]
    [InlineData("markdown.js", "text/javascript")]
    [InlineData("chat.css", "text/css")]
    [InlineData("favicon.svg", "image/svg+xml")]
    public async Task EachAssetHasItsContentTypeAndTheSameHeaders(string path, string type)
    {
        await using var server = await StartAsync();
        using var response = await server.Http.GetAsync(path);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(type, response.Content.Headers.ContentType!.MediaType);
        Assert.Equal("nosniff", Assert.Single(response.Headers.GetValues("X-Content-Type-Options")));
        Assert.Equal(ChatPage.ContentSecurityPolicy, Assert.Single(response.Headers.GetValues("Content-Security-Policy")));
        Assert.True((await response.Content.ReadAsByteArrayAsync()).Length > 100);

        using var head = await server.Http.SendAsync(new HttpRequestMessage(HttpMethod.Head, path));
        Assert.Equal(HttpStatusCode.OK, head.StatusCode);
        Assert.Empty(await head.Content.ReadAsByteArrayAsync());
    }

    [Fact]
    public void EveryAssetThePageReferencesIsEmbeddedAndNoneNamesAnExternalUrl()
    {
        var assets = ChatPage.Assets.Value;
        Assert.Contains("/", assets.Keys);
        string html = Encoding.UTF8.GetString(assets["/"].Body);
        foreach (Match m in Referenced().Matches(html)) Assert.True(assets.ContainsKey(m.Groups[1].Value), $"index.html references {m.Groups[1].Value}, which is not embedded");
        Assert.Contains("/markdown.js", assets.Keys);
        foreach (var (path, asset) in assets)
        {
            string text = Encoding.UTF8.GetString(asset.Body);
            foreach (Match m in AnyUrl().Matches(text))
                Assert.True(AllowedUrls.Any(a => m.Value.StartsWith(a, StringComparison.Ordinal)), $"{path} names an external address: {m.Value}");
            Assert.DoesNotContain("@import", text);
            Assert.DoesNotContain("url(", text);
            Assert.DoesNotContain(".innerHTML", text);
            Assert.DoesNotContain(".outerHTML", text);
            Assert.DoesNotContain("insertAdjacentHTML", text);
            Assert.DoesNotContain("document.write", text);
            Assert.DoesNotContain("eval(", text);
        }
    }

    [Fact]
    public async Task NoChatPageLeavesOnlyTheApi()
    {
        await using var server = await StartAsync(new ServerOptions { ChatPage = false });
        foreach (string path in new[] { "", "chat.js", "chat.css" })
        {
            using var response = await server.Http.GetAsync(path);
            Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        }
        using var models = await server.Http.GetAsync("v1/models");
        Assert.Equal(HttpStatusCode.OK, models.StatusCode);
    }

    [Fact]
    public async Task UsageCarriesTheMimoTimingsStreamedAndWhole()
    {
        await using var server = await StartAsync();
        const string request = """{"messages":[{"role":"user","content":"Hi"}],"stream":true,"stream_options":{"include_usage":true}}""";
        using var response = await Sse.StartAsync(server.Http, "v1/chat/completions", request);
        JsonElement? usage = null;
        await foreach (var chunk in Sse.ReadAsync(response))
            if (chunk.TryGetProperty("usage", out var u)) usage = u;
        Assert.NotNull(usage);
        var mimo = usage.Value.GetProperty("mimo");
        int tokens = usage.Value.GetProperty("completion_tokens").GetInt32();
        // The scripted model emits one token per step and does not draft.
        Assert.Equal(tokens - 1, mimo.GetProperty("decode_steps").GetInt32());
        Assert.Equal(1, mimo.GetProperty("acceptance_length").GetDouble());
        Assert.Equal(0, mimo.GetProperty("draft_depth").GetInt32());
        Assert.True(mimo.GetProperty("time_to_first_token_ms").GetDouble() >= 0);
        Assert.True(mimo.GetProperty("tokens_per_second").GetDouble() >= 0);

        var (status, body, _) = await server.PostAsync("v1/chat/completions", """{"messages":[{"role":"user","content":"Hi"}]}""");
        Assert.Equal(200, status);
        Assert.Equal(tokens - 1, body.GetProperty("usage").GetProperty("mimo").GetProperty("decode_steps").GetInt32());
    }

    [Fact]
    public async Task TheRealSchedulerReportsDraftDepthAndAcceptanceFromEmittedTokens()
    {
        await using var server = await ServerHost.StartAsync(new EngineOptions { ModelId = "tiny", Speculative = 2 });
        const string request = """{"messages":[{"role":"user","content":"Count with me"}],"max_tokens":9,"temperature":0,"ignore_eos":true}""";
        var (status, body, _) = await server.PostAsync("v1/chat/completions", request);
        Assert.True(status == 200, body.ToString());
        var usage = body.GetProperty("usage");
        var mimo = usage.GetProperty("mimo");
        int tokens = usage.GetProperty("completion_tokens").GetInt32();
        int steps = mimo.GetProperty("decode_steps").GetInt32();
        Assert.Equal(9, tokens);
        Assert.Equal(2, mimo.GetProperty("draft_depth").GetInt32());
        Assert.InRange(steps, (tokens - 1 + 2) / 3, tokens - 1);
        Assert.Equal((double)(tokens - 1) / steps, mimo.GetProperty("acceptance_length").GetDouble(), 3);
    }
}

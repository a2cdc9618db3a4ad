using System.Net.Http.Headers;
using System.Text.Json;
using MimoSharp.Server.Http;
using MimoSharp.Server.Tests.Support;

namespace MimoSharp.Server.Tests.Http;

/// <summary>The settings that make a public bind safe: an API key, a per-client request rate, the connection limit.</summary>
public sealed class AccessLimitTests
{
    private const string Short = """{"messages":[{"role":"user","content":"Hi"}],"max_tokens":2}""";

    private static async Task<(int Status, string Body)> SendAsync(ServerHost server, HttpMethod method, string path, string? key, string? json = null)
    {
        using var request = new HttpRequestMessage(method, path);
        if (key is not null) request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", key);
        if (json is not null) request.Content = new StringContent(json, System.Text.Encoding.UTF8, "application/json");
        using var response = await server.Http.SendAsync(request);
        return ((int)response.StatusCode, await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task WithAnApiKeyTheApiAnswers401UnlessTheKeyIsSentAndTheHealthProbeAndChatPageStayOpen()
    {
        await using var server = await ServerHost.StartAsync(server: new ServerOptions { ApiKey = "s3cret-key" });
        foreach (var (method, path, json) in new[] { (HttpMethod.Post, "v1/chat/completions", Short), (HttpMethod.Get, "v1/models", null), (HttpMethod.Get, "metrics", null) })
        {
            foreach (string? wrong in new[] { null, "", "s3cret-kez", "s3cret-key-and-more", "S3CRET-KEY" })
            {
                var (status, body) = await SendAsync(server, method, path, wrong, json);
                Assert.Equal(401, status);
                Assert.Equal("invalid_api_key", JsonDocument.Parse(body).RootElement.GetProperty("error").GetProperty("code").GetString());
            }
            var (ok, okBody) = await SendAsync(server, method, path, "s3cret-key", json);
            Assert.True(ok == 200, okBody);
        }
        Assert.Equal(200, (await SendAsync(server, HttpMethod.Get, "health", null)).Status);
        Assert.Equal(200, (await SendAsync(server, HttpMethod.Get, "", null)).Status);
    }

    [Fact]
    public void TheKeyComparisonAcceptsOnlyTheExactKeyAfterBearer()
    {
        var check = new ApiKeyCheck("abc");
        Assert.True(check.Accepts("Bearer abc"));
        Assert.True(check.Accepts("bearer abc"));
        Assert.False(check.Accepts("abc"));
        Assert.False(check.Accepts("Bearer ab"));
        Assert.False(check.Accepts("Bearer abcd"));
        Assert.False(check.Accepts("Basic abc"));
        Assert.False(check.Accepts(null));
        Assert.False(new ApiKeyCheck(" ").Accepts("Bearer "));
    }

    [Fact]
    public async Task BeyondTheRateAClientGets429WithRetryAfter()
    {
        await using var server = await ServerHost.StartAsync(server: new ServerOptions { RequestsPerMinutePerClient = 3 });
        for (int i = 0; i < 3; i++) Assert.Equal(200, (await SendAsync(server, HttpMethod.Get, "v1/models", null)).Status);
        using var response = await server.Http.GetAsync("v1/models");
        Assert.Equal(429, (int)response.StatusCode);
        Assert.Equal("60", response.Headers.RetryAfter?.ToString());
        var error = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.GetProperty("error");
        Assert.Equal("rate_limit_exceeded", error.GetProperty("code").GetString());
    }

    [Theory]
    [InlineData("127.0.0.1", null, 0)]
    [InlineData("localhost", null, 0)]
    [InlineData("::1", null, 0)]
    [InlineData("0.0.0.0", null, ServerOptions.PublicRequestsPerMinute)]
    [InlineData("192.168.1.5", 0, 0)]
    [InlineData("0.0.0.0", 30, 30)]
    public void APublicBindIsRateLimitedByDefault(string host, int? set, int expected) =>
        Assert.Equal(expected, new ServerOptions { Host = host, RequestsPerMinutePerClient = set }.EffectiveRequestsPerMinute);

    [Fact]
    public void BadLimitsAreRefusedNamingTheSetting()
    {
        Assert.Contains("API key", Assert.Throws<ArgumentException>(() => new ServerOptions { ApiKey = "  " }.Validate()).Message);
        Assert.Contains("connection limit", Assert.Throws<ArgumentOutOfRangeException>(() => new ServerOptions { MaxConnections = 0 }.Validate()).Message);
        Assert.Contains("request rate", Assert.Throws<ArgumentOutOfRangeException>(() => new ServerOptions { RequestsPerMinutePerClient = -1 }.Validate()).Message);
    }
}

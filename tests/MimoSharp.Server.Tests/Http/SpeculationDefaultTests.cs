using MimoSharp.Server.Engine;
using MimoSharp.Server.Tests.Support;

namespace MimoSharp.Server.Tests.Http;

/// <summary>
/// The server's default never decodes slower than plain: adaptive MTP depth where it cannot change the output
/// (greedy, or sampled without a seed), plain decoding for seeded sampling; a fixed --speculative K applies as given.
/// </summary>
public sealed class SpeculationDefaultTests
{
    private static string Request(string sampling) =>
        "{\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}],\"max_tokens\":4," + sampling + "}";

    private static async Task<int> DraftDepthAsync(ServerHost server, string sampling)
    {
        var (status, body, _) = await server.PostAsync("v1/chat/completions", Request(sampling));
        Assert.True(status == 200, body.ToString());
        return body.GetProperty("usage").GetProperty("mimo").GetProperty("draft_depth").GetInt32();
    }

    [Fact]
    public async Task ByDefaultGreedyAndUnseededRequestsSpeculateAdaptivelyAndSeededOnesDecodePlain()
    {
        await using var server = await ServerHost.StartAsync(new EngineOptions());
        int layers = server.Engine.SpeculativeDepth;
        Assert.True(layers > 0);
        Assert.Equal(layers, await DraftDepthAsync(server, "\"temperature\":0"));
        Assert.Equal(layers, await DraftDepthAsync(server, "\"temperature\":0.8"));
        Assert.Equal(0, await DraftDepthAsync(server, "\"temperature\":0.8,\"seed\":7"));
    }

    [Fact]
    public async Task AFixedDepthAppliesToEveryRequest()
    {
        await using var server = await ServerHost.StartAsync(new EngineOptions { Speculative = 1 });
        Assert.Equal(1, await DraftDepthAsync(server, "\"temperature\":0.8,\"seed\":7"));
        Assert.Equal(1, await DraftDepthAsync(server, "\"temperature\":0"));
    }
}

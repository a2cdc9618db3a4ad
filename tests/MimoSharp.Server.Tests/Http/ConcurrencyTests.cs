using System.ClientModel;
using System.Text;
using System.Text.Json;
using MimoSharp.Server.Tests.Support;
using OpenAI;
using OpenAI.Chat;

namespace MimoSharp.Server.Tests.Http;

/// <summary>Continuous batching seen from outside: many clients at once, each getting exactly its solo answer.</summary>
public sealed class ConcurrencyTests(TinyServerFixture fixture) : IClassFixture<TinyServerFixture>
{
    private const int Clients = 32;
    private ServerHost Server => fixture.Server;

    private static string Body(int i, bool stream) =>
        JsonSerializer.Serialize(new Dictionary<string, object>
        {
            ["model"] = "tiny",
            ["messages"] = new[] { new { role = "user", content = $"Request number {i}: {new string('x', i % 7)} tell me something." } },
            ["max_tokens"] = 6 + i % 5,
            ["temperature"] = 0.9,
            ["top_p"] = 0.95,
            ["seed"] = 1000 + i,
            ["stream"] = stream,
        });

    private async Task<string> WholeAsync(int i)
    {
        var (status, body, _) = await Server.PostAsync("v1/chat/completions", Body(i, stream: false));
        Assert.True(status == 200, body.ToString());
        return body.GetProperty("choices")[0].GetProperty("message").GetProperty("content").GetString()!;
    }

    private async Task<string> StreamedAsync(int i)
    {
        using var response = await Sse.StartAsync(Server.Http, "v1/chat/completions", Body(i, stream: true));
        Assert.Equal(200, (int)response.StatusCode);
        var text = new StringBuilder();
        await foreach (var chunk in Sse.ReadAsync(response))
            if (chunk.GetProperty("choices")[0].GetProperty("delta").TryGetProperty("content", out var c)) text.Append(c.GetString());
        return text.ToString();
    }

    // The official client, streaming, with the same request as Body(i).
    private async Task<string> OpenAiStreamedAsync(int i)
    {
        var client = new ChatClient("tiny", new ApiKeyCredential("unused"), new OpenAIClientOptions { Endpoint = Server.ApiUri });
        var options = new ChatCompletionOptions { MaxOutputTokenCount = 6 + i % 5, Temperature = 0.9f, TopP = 0.95f, Seed = 1000 + i };
        var text = new StringBuilder();
        await foreach (var update in client.CompleteChatStreamingAsync(
                           [new UserChatMessage($"Request number {i}: {new string('x', i % 7)} tell me something.")], options))
            foreach (var part in update.ContentUpdate) text.Append(part.Text);
        return text.ToString();
    }

    [Fact]
    public async Task ThirtyTwoConcurrentClientsEachGetTheirSoloOutput()
    {
        var solo = new string[Clients];
        for (int i = 0; i < Clients; i++) solo[i] = await WholeAsync(i);

        double passesBefore = await Server.MetricAsync("mimo_forward_passes_total");
        double tokensBefore = await Server.MetricAsync("mimo_generation_tokens_total");
        // 32 clients on 8 running slots: most wait in the queue and join the batch as others leave.
        var tasks = Enumerable.Range(0, Clients).Select(i => Task.Run(() => (i % 3) switch
        {
            0 => WholeAsync(i),
            1 => StreamedAsync(i),
            _ => OpenAiStreamedAsync(i),
        })).ToArray();
        string[] together = await Task.WhenAll(tasks);

        for (int i = 0; i < Clients; i++) Assert.True(solo[i] == together[i], $"client {i}: solo '{solo[i]}' vs batched '{together[i]}'");
        double passes = await Server.MetricAsync("mimo_forward_passes_total") - passesBefore;
        double tokens = await Server.MetricAsync("mimo_generation_tokens_total") - tokensBefore;
        // One forward pass serves the whole running batch, so passes are far fewer than tokens.
        Assert.True(passes * 3 < tokens, $"{passes} forward passes for {tokens} tokens: requests were not batched");
        Assert.Equal(0, await Server.WaitForMetricAsync("mimo_running_sequences", v => v == 0));
        Assert.Equal(0, await Server.MetricAsync("mimo_queue_depth"));
        Assert.Equal(0, await Server.MetricAsync("mimo_kv_cache_bytes"));
    }
}

using System.ClientModel;
using System.Text;
using Microsoft.Extensions.AI;
using MimoSharp.Server.Tests.Support;
using OpenAI;
using OpenAI.Chat;
using AIChatMessage = Microsoft.Extensions.AI.ChatMessage;
using ChatFinishReason = OpenAI.Chat.ChatFinishReason;
using ChatMessage = OpenAI.Chat.ChatMessage;

namespace MimoSharp.Server.Tests.Http;

/// <summary>The official OpenAI .NET client and Microsoft.Extensions.AI's OpenAI client against the real server.</summary>
public sealed class OpenAiClientTests(TinyServerFixture fixture) : IClassFixture<TinyServerFixture>
{
    private ServerHost Server => fixture.Server;

    private ChatClient OpenAiChat() => new("tiny", new ApiKeyCredential("unused"), new OpenAIClientOptions { Endpoint = Server.ApiUri });

    private static ChatCompletionOptions Options(long seed, int maxTokens = 12) =>
        new() { MaxOutputTokenCount = maxTokens, Seed = seed, Temperature = 0.9f, TopP = 0.95f };

    [Fact]
    public async Task CompleteChatAnswersWithTextUsageAndFinishReason()
    {
        ChatCompletion completion = await OpenAiChat().CompleteChatAsync(
            [new SystemChatMessage("You are terse."), new UserChatMessage("Say something.")], Options(seed: 1));
        Assert.Equal(ChatMessageRole.Assistant, completion.Role);
        Assert.Equal("tiny", completion.Model);
        Assert.StartsWith("chatcmpl-", completion.Id);
        Assert.Single(completion.Content);
        Assert.Equal(12, completion.Usage.OutputTokenCount);
        Assert.True(completion.Usage.InputTokenCount > 5);
        Assert.Equal(completion.Usage.InputTokenCount + 12, completion.Usage.TotalTokenCount);
        Assert.Equal(ChatFinishReason.Length, completion.FinishReason);
    }

    [Fact]
    public async Task StreamingGivesTheSameTextAsNonStreamingForTheSameSeed()
    {
        ChatMessage[] messages = [new UserChatMessage("Tell me a story.")];
        ChatCompletion whole = await OpenAiChat().CompleteChatAsync(messages, Options(seed: 42, maxTokens: 16));

        var streamed = new StringBuilder();
        ChatFinishReason? finish = null;
        int updates = 0;
        await foreach (StreamingChatCompletionUpdate update in OpenAiChat().CompleteChatStreamingAsync(messages, Options(seed: 42, maxTokens: 16)))
        {
            foreach (var part in update.ContentUpdate) streamed.Append(part.Text);
            finish ??= update.FinishReason;
            updates++;
        }
        Assert.Equal(whole.Content[0].Text, streamed.ToString());
        Assert.Equal(ChatFinishReason.Length, finish);
        Assert.True(updates > 3, $"expected several chunks, got {updates}");
    }

    [Fact]
    public async Task ModelsListNamesTheServedModel()
    {
        var models = new OpenAIClient(new ApiKeyCredential("unused"), new OpenAIClientOptions { Endpoint = Server.ApiUri }).GetOpenAIModelClient();
        var list = await models.GetModelsAsync();
        Assert.Equal("tiny", Assert.Single(list.Value).Id);
        var one = await models.GetModelAsync("tiny");
        Assert.Equal("mimosharp", one.Value.OwnedBy);
    }

    [Fact]
    public async Task MicrosoftExtensionsAiOpenAiClientWorksAgainstTheServer()
    {
        IChatClient client = OpenAiChat().AsIChatClient();
        var options = new ChatOptions { MaxOutputTokens = 10, Seed = 7, Temperature = 0.8f };
        AIChatMessage[] messages = [new(Microsoft.Extensions.AI.ChatRole.User, "Hello there")];

        ChatResponse response = await client.GetResponseAsync(messages, options);
        Assert.Equal(10, response.Usage?.OutputTokenCount);
        Assert.Equal(Microsoft.Extensions.AI.ChatFinishReason.Length, response.FinishReason);

        var streamed = new StringBuilder();
        await foreach (var update in client.GetStreamingResponseAsync(messages, options)) streamed.Append(update.Text);
        Assert.Equal(response.Text, streamed.ToString());
    }

    [Fact]
    public async Task TextCompletionsStreamAndNotAlike()
    {
        const string body = """{"model":"tiny","prompt":"Once upon a time","max_tokens":10,"temperature":0.7,"seed":3}""";
        var (status, whole, _) = await Server.PostAsync("v1/completions", body);
        Assert.Equal(200, status);
        Assert.Equal("text_completion", whole.GetProperty("object").GetString());
        Assert.Equal(10, whole.GetProperty("usage").GetProperty("completion_tokens").GetInt32());

        using var response = await Sse.StartAsync(Server.Http, "v1/completions", body.Replace("\"seed\":3", "\"seed\":3,\"stream\":true"));
        Assert.Equal("text/event-stream; charset=utf-8", response.Content.Headers.ContentType?.ToString());
        var text = new StringBuilder();
        string? finish = null;
        await foreach (var chunk in Sse.ReadAsync(response))
        {
            var choice = chunk.GetProperty("choices")[0];
            text.Append(choice.GetProperty("text").GetString());
            if (choice.GetProperty("finish_reason").ValueKind == System.Text.Json.JsonValueKind.String) finish = choice.GetProperty("finish_reason").GetString();
        }
        Assert.Equal(whole.GetProperty("choices")[0].GetProperty("text").GetString(), text.ToString());
        Assert.Equal("length", finish);
    }

    [Fact]
    public async Task TokenIdPromptsAndGreedyDecodingAreDeterministic()
    {
        const string body = """{"prompt":[1,2,3,4,5],"max_tokens":8,"temperature":0}""";
        var (s1, first, _) = await Server.PostAsync("v1/completions", body);
        var (s2, second, _) = await Server.PostAsync("v1/completions", body);
        Assert.Equal(200, s1);
        Assert.Equal(200, s2);
        Assert.Equal(5, first.GetProperty("usage").GetProperty("prompt_tokens").GetInt32());
        Assert.Equal(first.GetProperty("choices")[0].GetProperty("text").GetString(), second.GetProperty("choices")[0].GetProperty("text").GetString());
    }

    [Fact]
    public async Task HealthAndMetricsAnswer()
    {
        string health = await Server.Http.GetStringAsync("health");
        Assert.Contains("\"status\":\"ok\"", health);
        using var metrics = await Server.Http.GetAsync("metrics");
        Assert.Equal("text/plain; version=0.0.4; charset=utf-8", metrics.Content.Headers.ContentType?.ToString());
        string text = await metrics.Content.ReadAsStringAsync();
        foreach (string name in new[] { "mimo_http_requests_total", "mimo_requests_total", "mimo_prompt_tokens_total", "mimo_generation_tokens_total",
                     "mimo_generation_tokens_per_second", "mimo_speculative_acceptance_length", "mimo_queue_depth", "mimo_kv_cache_bytes" })
            Assert.Contains($"# TYPE {name} ", text);
        // Speculative decoding is on by default: the tiny model has 2 MTP layers.
        Assert.Equal(2, await Server.MetricAsync("mimo_speculative_draft_depth"));
    }
}

using System.Text;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.DependencyInjection;
using MimoSharp.Server.AI;
using MimoSharp.Server.Engine;
using MimoSharp.Server.Tests.Support;

namespace MimoSharp.Server.Tests.AI;

/// <summary>The IChatClient over the in-process engine: no HTTP, same batch, same answers.</summary>
public sealed class MimoChatClientTests
{
    private static ChatOptions Seeded(long seed, int maxTokens = 12) => new() { MaxOutputTokens = maxTokens, Seed = seed, Temperature = 0.9f, TopP = 0.95f };

    [Fact]
    public async Task StreamingAndNonStreamingAgreeAndMatchTheHttpServer()
    {
        await using var server = await ServerHost.StartAsync(new EngineOptions { ModelId = "tiny" });
        IChatClient client = new MimoChatClient(server.Engine);
        ChatMessage[] messages = [new(ChatRole.System, "Be brief."), new(ChatRole.User, "Tell me a story.")];

        ChatResponse response = await client.GetResponseAsync(messages, Seeded(11));
        Assert.Equal(ChatFinishReason.Length, response.FinishReason);
        Assert.Equal(12, response.Usage?.OutputTokenCount);
        Assert.Equal("tiny", response.ModelId);

        var streamed = new StringBuilder();
        int updates = 0;
        await foreach (var update in client.GetStreamingResponseAsync(messages, Seeded(11)))
        {
            streamed.Append(update.Text);
            updates++;
        }
        Assert.Equal(response.Text, streamed.ToString());
        Assert.True(updates > 2);

        // The same request over HTTP, on the same engine, gives the same text.
        var (status, body, _) = await server.PostAsync("v1/chat/completions",
            """{"messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"Tell me a story."}],"max_tokens":12,"seed":11,"temperature":0.9,"top_p":0.95}""");
        Assert.Equal(200, status);
        Assert.Equal(response.Text, body.GetProperty("choices")[0].GetProperty("message").GetProperty("content").GetString());
    }

    [Fact]
    public async Task CancellingTheTokenStopsTheSequenceAndFreesItsSlot()
    {
        using var engine = MimoEngine.Load(TestModel.Dir, new EngineOptions { MaxRunningSequences = 1 });
        IChatClient client = new MimoChatClient(engine);
        using var cancel = new CancellationTokenSource();
        var options = new ChatOptions { MaxOutputTokens = 4000, AdditionalProperties = new() { ["ignore_eos"] = true } };
        int updates = 0;
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () =>
        {
            await foreach (var _ in client.GetStreamingResponseAsync("Go on forever.", options, cancel.Token))
                if (++updates == 3) cancel.Cancel();
        });
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while ((engine.Metrics.RunningSequences > 0 || engine.Metrics.KvCacheBytes > 0) && DateTime.UtcNow < deadline) await Task.Delay(10);
        Assert.Equal(0, engine.Metrics.RunningSequences);
        Assert.Equal(0, engine.Metrics.KvCacheBytes);
        Assert.Equal(1, engine.Metrics.RequestsCancelled);
        Assert.True(engine.Metrics.GeneratedTokens < 4000);
    }

    [Fact]
    public async Task DisposingTheEngineEndsARunningRequestWithServerBusy()
    {
        var engine = MimoEngine.Load(TestModel.Dir);
        IChatClient client = new MimoChatClient(engine, ownsEngine: true);
        var options = new ChatOptions { MaxOutputTokens = 4000, AdditionalProperties = new() { ["ignore_eos"] = true } };
        var busy = await Assert.ThrowsAsync<ServerBusyException>(async () =>
        {
            await foreach (var _ in client.GetStreamingResponseAsync("Go on forever.", options)) client.Dispose();
        });
        Assert.True(busy.ShuttingDown);
    }

    [Fact]
    public async Task ReasoningIsReasoningContentAndToolCallsAreFunctionCallContent()
    {
        const string answer = "<think>\nNeed the weather.\n</think>\n\nChecking." +
            "<tool_call>\n<function=get_weather>\n<parameter=city>\nParis\n</parameter>\n<parameter=days>\n2\n</parameter>\n</function>\n</tool_call>";
        using var engine = ScriptedQueue.Answering(answer, out var queue);
        IChatClient client = new MimoChatClient(engine);
        var options = new ChatOptions
        {
            Reasoning = new ReasoningOptions { Effort = ReasoningEffort.Medium },
            Tools = [AIFunctionFactory.Create((string city, int days) => $"{city}: sunny for {days} days", "get_weather", "Weather forecast")],
        };

        var updates = new List<ChatResponseUpdate>();
        await foreach (var update in client.GetStreamingResponseAsync("Weather in Paris?", options)) updates.Add(update);
        var reasoning = string.Concat(updates.SelectMany(u => u.Contents).OfType<TextReasoningContent>().Select(r => r.Text));
        Assert.Equal("Need the weather.", reasoning);
        Assert.Equal("Checking.", string.Concat(updates.Select(u => u.Text)));
        var call = Assert.Single(updates.SelectMany(u => u.Contents).OfType<FunctionCallContent>());
        Assert.Equal("get_weather", call.Name);
        Assert.Equal("Paris", call.Arguments!["city"]!.ToString());
        Assert.Equal("2", call.Arguments!["days"]!.ToString());
        Assert.Equal(ChatFinishReason.ToolCalls, updates[^1].FinishReason);
        Assert.NotNull(updates[^1].Contents.OfType<UsageContent>().SingleOrDefault());
        // Thinking was on: the prompt leaves the think block open for the model.
        Assert.EndsWith("<|im_start|>assistant\n", TestModel.Tokenizer.Decode(queue.Prompts.Single()));
    }

    [Fact]
    public async Task FunctionInvocationRoundTripsThroughTheChatTemplate()
    {
        // First turn: the model calls the tool; once the tool's result is in the prompt, it answers.
        using var engine = ScriptedQueue.Engine(prompt =>
        {
            string text = TestModel.Tokenizer.Decode(prompt.ToArray());
            string answer = text.Contains("<tool_response>")
                ? "Paris is " + text.Split("<tool_response>\n")[1].Split('\n')[0] + "."
                : "<tool_call>\n<function=get_weather>\n<parameter=city>\nParis\n</parameter>\n</function>\n</tool_call>";
            return TestModel.Tokenizer.Encode(answer + "<|im_end|>");
        }, out var queue);
        int calls = 0;
        IChatClient client = new ChatClientBuilder(new MimoChatClient(engine)).UseFunctionInvocation().Build();
        var options = new ChatOptions
        {
            Tools = [AIFunctionFactory.Create((string city) => { calls++; return $"sunny in {city}"; }, "get_weather", "Weather now")],
        };
        ChatResponse response = await client.GetResponseAsync("Weather in Paris?", options);
        Assert.Equal(1, calls);
        Assert.Equal("Paris is sunny in Paris.", response.Text);
        Assert.Equal(2, queue.Prompts.Count);
        Assert.Contains("<function=get_weather>", TestModel.Tokenizer.Decode(queue.Prompts[1]));
    }

    [Fact]
    public async Task RegisteredWithDependencyInjection()
    {
        var services = new ServiceCollection();
        services.AddMimoChatClient(TestModel.Dir, new EngineOptions { ModelId = "di-model" }).UseFunctionInvocation();
        MimoEngine engine;
        await using (var provider = services.BuildServiceProvider())
        {
            var client = provider.GetRequiredService<IChatClient>();
            var response = await client.GetResponseAsync("Hello", new ChatOptions { MaxOutputTokens = 5, Temperature = 0 });
            Assert.Equal(5, response.Usage?.OutputTokenCount);
            Assert.Equal("di-model", client.GetService<ChatClientMetadata>()?.DefaultModelId);
            engine = provider.GetRequiredService<MimoEngine>();
            Assert.Same(engine, client.GetService<MimoEngine>());
        }
        // The container owned the engine and disposed it: it takes no more work.
        Assert.Throws<ServerBusyException>(() => engine.StartCompletion(new CompletionRequest { Prompt = "x", MaxTokens = 1 }));
    }

    [Fact]
    public async Task WhatTheModelCannotTakeIsAnArgumentErrorNamingTheField()
    {
        using var engine = ScriptedQueue.Answering("ok", out _);
        IChatClient client = new MimoChatClient(engine);
        var wrongModel = await Assert.ThrowsAsync<InvalidRequestException>(() => client.GetResponseAsync("hi", new ChatOptions { ModelId = "gpt-4o" }));
        Assert.Equal("model", wrongModel.ParamName);
        var image = await Assert.ThrowsAsync<InvalidRequestException>(() => client.GetResponseAsync(
            [new ChatMessage(ChatRole.User, [new DataContent(new byte[] { 1, 2, 3 }, "image/png")])]));
        Assert.Equal("messages[0].contents", image.ParamName);
        var tooMany = await Assert.ThrowsAsync<InvalidRequestException>(() => client.GetResponseAsync("hi", new ChatOptions { MaxOutputTokens = 100_000 }));
        Assert.Equal("max_tokens", tooMany.ParamName);
        Assert.IsAssignableFrom<ArgumentException>(tooMany);
    }
}

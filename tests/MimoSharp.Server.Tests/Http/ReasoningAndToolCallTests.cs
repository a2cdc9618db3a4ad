using System.ClientModel;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.AI;
using MimoSharp.Server.Tests.Support;
using OpenAI;
using OpenAI.Chat;
using ChatFinishReason = OpenAI.Chat.ChatFinishReason;

namespace MimoSharp.Server.Tests.Http;

/// <summary>
/// How MiMo's output is split into OpenAI's fields, end to end over HTTP. A scripted engine answers with a
/// fixed text (random tiny weights would never produce a well-formed tool call), so only the model is fake:
/// chat template, tokenizer, streaming decoder, output parser, JSON and SSE are the real ones.
/// </summary>
public sealed class ReasoningAndToolCallTests
{
    private const string Answer =
        "<think>\nThe user wants the weather.\n</think>\n\nLet me check." +
        "<tool_call>\n<function=get_weather>\n<parameter=city>\nParis\n</parameter>\n<parameter=days>\n3\n</parameter>\n</function>\n</tool_call>";

    private const string Tools = """[{"type":"function","function":{"name":"get_weather","description":"Weather forecast","parameters":{"type":"object","properties":{"city":{"type":"string"},"days":{"type":"integer"}},"required":["city"]}}}]""";

    private static string Request(bool stream, bool thinking = true) =>
        $$"""{"model":"scripted","messages":[{"role":"user","content":"Weather in Paris?"}],"tools":{{Tools}},"chat_template_kwargs":{"enable_thinking":{{(thinking ? "true" : "false")}}},"stream":{{(stream ? "true" : "false")}}}""";

    [Fact]
    public async Task ReasoningContentAndToolCallsInOneResponse()
    {
        await using var server = await ServerHost.StartAsync(ScriptedQueue.Answering(Answer, out _));
        var (status, body, _) = await server.PostAsync("v1/chat/completions", Request(stream: false));
        Assert.True(status == 200, body.ToString());
        var choice = body.GetProperty("choices")[0];
        var message = choice.GetProperty("message");
        Assert.Equal("The user wants the weather.", message.GetProperty("reasoning_content").GetString());
        Assert.Equal("Let me check.", message.GetProperty("content").GetString());
        var call = Assert.Single(message.GetProperty("tool_calls").EnumerateArray());
        Assert.Equal("function", call.GetProperty("type").GetString());
        Assert.StartsWith("call_", call.GetProperty("id").GetString());
        Assert.Equal("get_weather", call.GetProperty("function").GetProperty("name").GetString());
        // The tool's schema types the arguments: days is an integer.
        Assert.Equal("""{"city":"Paris","days":3}""", call.GetProperty("function").GetProperty("arguments").GetString());
        Assert.Equal("tool_calls", choice.GetProperty("finish_reason").GetString());
    }

    [Fact]
    public async Task StreamingSplitsReasoningContentAndToolCallsIntoDeltas()
    {
        await using var server = await ServerHost.StartAsync(ScriptedQueue.Answering(Answer, out _));
        using var response = await Sse.StartAsync(server.Http, "v1/chat/completions", Request(stream: true));
        var reasoning = new StringBuilder();
        var content = new StringBuilder();
        var calls = new List<JsonElement>();
        var finishes = new List<string>();
        int chunks = 0;
        await foreach (var chunk in Sse.ReadAsync(response))
        {
            Assert.Equal("chat.completion.chunk", chunk.GetProperty("object").GetString());
            var choice = chunk.GetProperty("choices")[0];
            var delta = choice.GetProperty("delta");
            if (delta.TryGetProperty("reasoning_content", out var r)) reasoning.Append(r.GetString());
            if (delta.TryGetProperty("content", out var c)) content.Append(c.GetString());
            if (delta.TryGetProperty("tool_calls", out var t)) calls.AddRange(t.EnumerateArray());
            if (choice.GetProperty("finish_reason").ValueKind == JsonValueKind.String) finishes.Add(choice.GetProperty("finish_reason").GetString()!);
            chunks++;
        }
        Assert.True(chunks > 5, "reasoning and content should arrive in several chunks");
        Assert.Equal("The user wants the weather.", reasoning.ToString());
        Assert.Equal("Let me check.", content.ToString());
        var call = Assert.Single(calls);
        Assert.Equal(0, call.GetProperty("index").GetInt32());
        Assert.Equal("get_weather", call.GetProperty("function").GetProperty("name").GetString());
        Assert.Equal(["tool_calls"], finishes);
    }

    [Fact]
    public async Task TheOfficialClientSeesToolCallsAndMeaiSeesFunctionCallContent()
    {
        await using var server = await ServerHost.StartAsync(ScriptedQueue.Answering(Answer, out _));
        var client = new ChatClient("scripted", new ApiKeyCredential("unused"), new OpenAIClientOptions { Endpoint = server.ApiUri });
        var options = new ChatCompletionOptions
        {
            Tools = { ChatTool.CreateFunctionTool("get_weather", "Weather forecast",
                BinaryData.FromString("""{"type":"object","properties":{"city":{"type":"string"},"days":{"type":"integer"}}}""")) },
        };
        ChatCompletion completion = await client.CompleteChatAsync([new UserChatMessage("Weather in Paris?")], options);
        Assert.Equal(ChatFinishReason.ToolCalls, completion.FinishReason);
        var call = Assert.Single(completion.ToolCalls);
        Assert.Equal("get_weather", call.FunctionName);
        Assert.Equal("""{"city":"Paris","days":3}""", call.FunctionArguments.ToString());

        IChatClient meai = client.AsIChatClient();
        var response = await meai.GetResponseAsync("Weather in Paris?", new ChatOptions
        {
            Tools = [AIFunctionFactory.Create((string city, int days) => "sunny", "get_weather", "Weather forecast")],
        });
        var function = Assert.Single(response.Messages.SelectMany(m => m.Contents).OfType<FunctionCallContent>());
        Assert.Equal("get_weather", function.Name);
        Assert.Equal("Paris", function.Arguments!["city"]!.ToString());
    }

    [Fact]
    public async Task EnableThinkingChangesTheGenerationPrompt()
    {
        await using var server = await ServerHost.StartAsync(ScriptedQueue.Answering("Hi.", out var queue));
        Assert.Equal(200, (await server.PostAsync("v1/chat/completions", Request(stream: false, thinking: false))).Status);
        Assert.Equal(200, (await server.PostAsync("v1/chat/completions", Request(stream: false, thinking: true))).Status);
        Assert.Equal(200, (await server.PostAsync("v1/chat/completions",
            """{"messages":[{"role":"user","content":"Hi"}],"reasoning_effort":"high"}""")).Status);
        string off = TestModel.Tokenizer.Decode(queue.Prompts[0]), on = TestModel.Tokenizer.Decode(queue.Prompts[1]);
        Assert.EndsWith("<|im_start|>assistant\n<think>\n\n</think>\n\n", off);
        Assert.EndsWith("<|im_start|>assistant\n", on);
        Assert.EndsWith("<|im_start|>assistant\n", TestModel.Tokenizer.Decode(queue.Prompts[2]));
        Assert.Contains("<function>\n<name>get_weather</name>", on);
    }

    [Fact]
    public async Task ToolResultsAndEarlierCallsGoBackIntoThePrompt()
    {
        await using var server = await ServerHost.StartAsync(ScriptedQueue.Answering("It is sunny.", out var queue));
        string body = $$$"""
            {"messages":[
              {"role":"user","content":"Weather in Paris?"},
              {"role":"assistant","content":null,"reasoning_content":"Need the tool.","tool_calls":[{"id":"call_1","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}}]},
              {"role":"tool","tool_call_id":"call_1","content":"sunny, 24C"}],
             "tools":{{{Tools}}}}
            """;
        var (status, json, _) = await server.PostAsync("v1/chat/completions", body);
        Assert.True(status == 200, json.ToString());
        Assert.Equal("It is sunny.", json.GetProperty("choices")[0].GetProperty("message").GetProperty("content").GetString());
        Assert.Equal("stop", json.GetProperty("choices")[0].GetProperty("finish_reason").GetString());
        string prompt = TestModel.Tokenizer.Decode(queue.Prompts.Single());
        Assert.Contains("<function=get_weather>\n<parameter=city>\nParis\n</parameter>", prompt);
        Assert.Contains("<tool_response>\nsunny, 24C\n</tool_response>", prompt);
        Assert.Contains("Need the tool.", prompt);
    }

    [Fact]
    public async Task StopStringsEndTheOutputWithoutIncludingThem()
    {
        await using var server = await ServerHost.StartAsync(ScriptedQueue.Answering("Hello world. Goodbye world. More text.", out _));
        var (status, json, _) = await server.PostAsync("v1/chat/completions",
            """{"messages":[{"role":"user","content":"Hi"}],"stop":["Goodbye","never"]}""");
        Assert.Equal(200, status);
        Assert.Equal("Hello world. ", json.GetProperty("choices")[0].GetProperty("message").GetProperty("content").GetString());
        Assert.Equal("stop", json.GetProperty("choices")[0].GetProperty("finish_reason").GetString());

        using var response = await Sse.StartAsync(server.Http, "v1/completions", """{"prompt":"Hi","stop":"world.","stream":true,"max_tokens":100}""");
        var text = new StringBuilder();
        await foreach (var chunk in Sse.ReadAsync(response)) text.Append(chunk.GetProperty("choices")[0].GetProperty("text").GetString());
        Assert.Equal("Hello ", text.ToString());
    }
}

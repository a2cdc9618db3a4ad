using System.Text;
using System.Text.Json;
using MimoSharp.Server.Engine;
using MimoSharp.Server.Http;
using MimoSharp.Server.Tests.Support;

namespace MimoSharp.Server.Tests.Http;

/// <summary>
/// Request bodies read into the contract records and judged by the one validator: errors name the field by its full
/// path, in the words the API has always used. (BadInputTests covers the same over HTTP.)
/// </summary>
public sealed class RequestValidatorTests
{
    private static InvalidRequestException Refusal(string body)
    {
        using var engine = ScriptedQueue.Answering("ok", out _);
        using var document = JsonDocument.Parse(body);
        return Assert.Throws<InvalidRequestException>(() => ChatCompletionRequest.Parse(document.RootElement, engine));
    }

    private const string Earlier = """{"role":"user","content":"weather?"},{"role":"tool","content":"sunny"}""";

    public static TheoryData<string, string, string, string> Cases() => new()
    {
        // body, param, code, message
        {
            $$$"""{"messages":[{{{Earlier}}},{"role":"assistant","tool_calls":[{"function":{"name":"f","arguments":"{\"city\":"}}]}]}""",
            "messages[2].tool_calls[0].function.arguments", "invalid_value", "messages[2].tool_calls[0].function.arguments must be JSON text: "
        },
        {
            $$$"""{"messages":[{{{Earlier}}},{"role":"assistant","tool_calls":[{"function":{"name":"f","arguments":7}}]}]}""",
            "messages[2].tool_calls[0].function.arguments", "invalid_type", "messages[2].tool_calls[0].function.arguments must be a JSON string, got a number"
        },
        {
            $$$"""{"messages":[{{{Earlier}}},{"role":"assistant","tool_calls":[{"function":["f"]}]}]}""",
            "messages[2].tool_calls[0].function", "invalid_type", "messages[2].tool_calls[0].function must be an object, got an array"
        },
        {
            """{"messages":[{"role":"user","content":[{"type":"text","text":"a"},{"type":"text","text":false}]}]}""",
            "messages[0].content[1].text", "invalid_type", "messages[0].content[1].text must be a string, got a boolean"
        },
        {
            """{"messages":[{"role":"user","content":"hi"}],"stop":["a",null]}""",
            "stop[1]", "invalid_type", "stop[1] must be a string, got null"
        },
        {
            """{"messages":[{"role":"user","content":"hi"}],"max_tokens":1e30}""",
            "max_tokens", "invalid_value", "max_tokens is 1e30, more than this server allows ("
        },
        {
            """{"messages":[{"role":"user","content":"hi"}],"max_completion_tokens":2.5}""",
            "max_completion_tokens", "invalid_type", "max_completion_tokens must be an integer, got 2.5"
        },
        {
            """{"messages":[{"role":"user","content":"hi"}],"temperature":1e400}""",
            "temperature", "invalid_value", "temperature must be a finite number"
        },
        {
            """{"messages":[{"role":"user","content":"hi"}],"tool_choice":{"type":"function"}}""",
            "tool_choice", "unsupported_value", "tool_choice must be \"auto\" or \"none\" (forcing a function is not supported), got Object"
        },
        {
            """{"messages":[{"role":"user","content":"hi"}],"tools":[{"function":{"name":"f","parameters":[]}}]}""",
            "tools[0].function.parameters", "invalid_type", "tools[0].function.parameters must be an object, got an array"
        },
        {
            """{"messages":[{"role":"user","content":"hi"}],"stream_options":{"include_usage":"yes"}}""",
            "stream_options.include_usage", "invalid_type", "stream_options.include_usage must be a boolean, got a string"
        },
        { "[1,2]", "body", "invalid_type", "body must be a JSON object, got an array" },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void ErrorsNameTheFieldByItsPath(string body, string param, string code, string message)
    {
        var e = Refusal(body);
        Assert.Equal(param, e.ParamName);
        Assert.Equal(code, e.Code);
        Assert.StartsWith(message, e.Reason);
    }

    [Fact]
    public void AValidRequestBecomesTheEnginesRequest()
    {
        using var engine = ScriptedQueue.Answering("ok", out _);
        using var document = JsonDocument.Parse("""
            {"model":"scripted","messages":[{"role":"developer","content":"Be brief."},{"role":"user","content":[{"type":"text","text":"2+"},{"text":"2?"}]},
              {"role":"assistant","content":null,"reasoning_content":"r","tool_calls":[{"function":{"name":"add","arguments":{"a":2}}}]}],
             "tools":[{"type":"function","function":{"name":"add","description":"Adds","parameters":{"type":"object"}}}],
             "max_completion_tokens":12,"top_k":-1,"seed":-1,"stop":"END","stream":true,"stream_options":{"include_usage":true},"reasoning_effort":"low"}
            """);
        var parsed = ChatCompletionRequest.Parse(document.RootElement, engine);
        var request = parsed.Request;
        Assert.Equal(["Be brief.", "2+2?", ""], request.Messages.Select(m => m.Content));
        Assert.Equal("r", request.Messages[2].ReasoningContent);
        Assert.Equal("""{"a":2}""", Assert.Single(request.Messages[2].ToolCalls).ArgumentsJson);
        var tool = Assert.Single(request.Tools);
        Assert.Equal(("add", "Adds", "object"), (tool.Name, tool.Description, tool.Parameters!.Value.GetProperty("type").GetString()));
        Assert.True(request.EnableThinking);
        Assert.Equal((12, "max_completion_tokens"), (parsed.Fields.MaxTokens, parsed.Fields.MaxTokensField));
        Assert.Equal((0, ulong.MaxValue), (request.Sampling.TopK, request.Sampling.Seed));
        Assert.Equal(["END"], request.Stop);
        Assert.True(parsed.Fields.Stream && parsed.Fields.IncludeUsage);
    }

    [Fact]
    public void ResponsesKeepOpenAisFieldOrderAndExplicitNulls()
    {
        var id = new OpenAiJson.ResponseId("chatcmpl-0123456789abcdef", 1700000000, "m");
        Assert.Equal(
            """{"id":"chatcmpl-0123456789abcdef","object":"chat.completion.chunk","created":1700000000,"model":"m","choices":[{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}]}""",
            Encoding.UTF8.GetString(OpenAiJson.ChatChunk(id, null, null, role: true)));
        Assert.Equal(
            """{"id":"chatcmpl-0123456789abcdef","object":"chat.completion.chunk","created":1700000000,"model":"m","choices":[{"index":0,"delta":{"reasoning_content":"é<","tool_calls":[{"index":2,"id":"call_456789abcdef_2","type":"function","function":{"name":"f","arguments":"{}"}}]},"logprobs":null,"finish_reason":null}]}""",
            Encoding.UTF8.GetString(OpenAiJson.ChatChunk(id, new MimoSharp.Text.ChatOutputDelta("é<", "", [new MimoSharp.Text.ToolCall("f", "{}")]), null, firstToolIndex: 2)));
        Assert.Equal("""{"error":{"message":"m","type":"t","param":null,"code":null}}""", Encoding.UTF8.GetString(OpenAiJson.Error("m", "t", null, null)));
    }
}

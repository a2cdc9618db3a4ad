using System.Text;
using System.Text.Json;
using MimoSharp.Server.Tests.Support;

namespace MimoSharp.Server.Tests.Http;

/// <summary>Bad requests get a 4xx with an OpenAI error body naming the field; never a 500; others are unaffected.</summary>
public sealed class BadInputTests(TinyServerFixture fixture) : IClassFixture<TinyServerFixture>
{
    private ServerHost Server => fixture.Server;

    private const string Chat = "v1/chat/completions", Text = "v1/completions";
    private const string Hi = """[{"role":"user","content":"hi"}]""";

    public static TheoryData<string, string, int, string?> Cases() => new()
    {
        // path, body, status, param
        { Chat, """{"messages": [""", 400, null },
        { Chat, "", 400, null },
        { Chat, "[1,2]", 400, "body" },
        { Chat, """{"model":"tiny"}""", 400, "messages" },
        { Chat, """{"messages":[]}""", 400, "messages" },
        { Chat, """{"messages":"hello"}""", 400, "messages" },
        { Chat, """{"messages":[42]}""", 400, "messages[0]" },
        { Chat, """{"messages":[{"content":"hi"}]}""", 400, "messages[0].role" },
        { Chat, """{"messages":[{"role":"wizard","content":"hi"}]}""", 400, "messages[0].role" },
        { Chat, """{"messages":[{"role":"user","content":5}]}""", 400, "messages[0].content" },
        { Chat, """{"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"x"}}]}]}""", 400, "messages[0].content[0].type" },
        { Chat, """{"messages":[{"role":"assistant","content":null,"tool_calls":[{"function":{"arguments":"{}"}}]}]}""", 400, "messages[0].tool_calls[0].function.name" },
        { Chat, $$$"""{"model":"gpt-4o","messages":{{{Hi}}}}""", 404, "model" },
        { Chat, $$$"""{"model":7,"messages":{{{Hi}}}}""", 400, "model" },
        { Chat, $$$"""{"messages":{{{Hi}}},"max_tokens":-5}""", 400, "max_tokens" },
        { Chat, $$$"""{"messages":{{{Hi}}},"max_tokens":0}""", 400, "max_tokens" },
        { Chat, $$$"""{"messages":{{{Hi}}},"max_tokens":1e30}""", 400, "max_tokens" },
        { Chat, $$$"""{"messages":{{{Hi}}},"max_tokens":99999999}""", 400, "max_tokens" },
        { Chat, $$$"""{"messages":{{{Hi}}},"max_tokens":4090}""", 400, "max_tokens" },
        { Chat, $$$"""{"messages":{{{Hi}}},"max_tokens":"ten"}""", 400, "max_tokens" },
        { Chat, $$$"""{"messages":{{{Hi}}},"max_tokens":2.5}""", 400, "max_tokens" },
        { Chat, $$$"""{"messages":{{{Hi}}},"max_completion_tokens":-1}""", 400, "max_completion_tokens" },
        { Chat, $$$"""{"messages":{{{Hi}}},"max_completion_tokens":100000}""", 400, "max_completion_tokens" },
        { Chat, $$$"""{"messages":{{{Hi}}},"temperature":"hot"}""", 400, "temperature" },
        { Chat, $$$"""{"messages":{{{Hi}}},"temperature":-1}""", 400, "temperature" },
        { Chat, $$$"""{"messages":{{{Hi}}},"temperature":3}""", 400, "temperature" },
        { Chat, $$$"""{"messages":{{{Hi}}},"top_p":0}""", 400, "top_p" },
        { Chat, $$$"""{"messages":{{{Hi}}},"top_p":[1]}""", 400, "top_p" },
        { Chat, $$$"""{"messages":{{{Hi}}},"seed":"abc"}""", 400, "seed" },
        { Chat, $$$"""{"messages":{{{Hi}}},"stream":"yes"}""", 400, "stream" },
        { Chat, $$$"""{"messages":{{{Hi}}},"stop":5}""", 400, "stop" },
        { Chat, $$$"""{"messages":{{{Hi}}},"stop":["ok",1]}""", 400, "stop[1]" },
        { Chat, $$$"""{"messages":{{{Hi}}},"stop":[""]}""", 400, "stop[0]" },
        { Chat, $$$"""{"messages":{{{Hi}}},"n":3}""", 400, "n" },
        { Chat, $$$"""{"messages":{{{Hi}}},"tools":{}}""", 400, "tools" },
        { Chat, $$$"""{"messages":{{{Hi}}},"tools":[{"type":"function"}]}""", 400, "tools[0].function" },
        { Chat, $$$"""{"messages":{{{Hi}}},"tool_choice":"required","tools":[{"type":"function","function":{"name":"f"}}]}""", 400, "tool_choice" },
        { Chat, $$$"""{"messages":{{{Hi}}},"chat_template_kwargs":{"enable_thinking":"yes"}}""", 400, "chat_template_kwargs.enable_thinking" },
        { Chat, $$$"""{"messages":{{{Hi}}},"response_format":{"type":"json_schema"}}""", 400, "response_format.type" },
        { Chat, $$$"""{"messages":{{{Hi}}},"logprobs":true}""", 400, "logprobs" },
        { Chat, $$$"""{"messages":{{{Hi}}},"presence_penalty":0.5}""", 400, "presence_penalty" },
        { Chat, """{"messages":[{"role":"user","content":"bad \ud800 half"}]}""", 400, "messages[0].content" },
        { Chat, $$$"""{"messages":{{{Hi}}},"stop":["\udc00"]}""", 400, "stop[0]" },
        { Chat, """{"messages":[{"role":"user","content":"hi"}],"tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object","properties":{"a":{"type":"\ud800"}}}}}]}""", 400, "tools[0].function.parameters.properties.a.type" },
        { Text, """{"prompt":"\ud800"}""", 400, "prompt" },
        { Text, """{"max_tokens":4}""", 400, "prompt" },
        { Text, """{"prompt":[]}""", 400, "prompt" },
        { Text, """{"prompt":[1,2,99999]}""", 400, "prompt[2]" },
        { Text, """{"prompt":[1,"a"]}""", 400, "prompt[1]" },
        { Text, """{"prompt":["one","two"]}""", 400, "prompt" },
        { Text, """{"prompt":"hi","echo":true}""", 400, "echo" },
        { Text, """{"prompt":"hi","max_tokens":-1}""", 400, "max_tokens" },
        { Text, """{"prompt":"hi","model":"davinci"}""", 404, "model" },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task BadInputIsA4xxNamingTheField(string path, string body, int status, string? param)
    {
        var (actual, json, _) = await Server.PostAsync(path, body);
        Assert.True(actual == status, $"{body} → {actual}: {json}");
        var error = json.GetProperty("error");
        Assert.False(string.IsNullOrWhiteSpace(error.GetProperty("message").GetString()));
        Assert.Equal("invalid_request_error", error.GetProperty("type").GetString());
        if (param is null) Assert.Equal(JsonValueKind.Null, error.GetProperty("param").ValueKind);
        else Assert.Equal(param, error.GetProperty("param").GetString());
    }

    [Fact]
    public async Task RandomlyMangledRequestsNeverGetA5xx()
    {
        // Valid requests with 1–3 fields replaced by values of every JSON kind, some cut short: a seeded fuzz.
        var random = new Random(1);
        string[] values = ["null", "true", "false", "0", "-1", "1", "2.5", "1e300", "-1e300", "99999999999999999999", "\"\"", "\"x\"", "\"auto\"",
            "\"none\"", "[]", "[1]", "[\"a\"]", "{}", "{\"type\":\"text\"}", "[{\"role\":\"user\",\"content\":\"hi\"}]", "[{}]", "\"\\ud800\""];
        string[] fields = ["model", "messages", "max_tokens", "max_completion_tokens", "temperature", "top_p", "top_k", "min_p", "repetition_penalty",
            "seed", "stop", "n", "stream", "stream_options", "tools", "tool_choice", "chat_template_kwargs", "reasoning_effort", "response_format",
            "logprobs", "presence_penalty", "ignore_eos", "prompt", "echo", "suffix", "best_of"];
        for (int i = 0; i < 300; i++)
        {
            var body = new Dictionary<string, string> { ["messages"] = "[{\"role\":\"user\",\"content\":\"hi\"}]", ["max_tokens"] = "2", ["prompt"] = "\"hi\"" };
            for (int k = random.Next(1, 4); k > 0; k--) body[fields[random.Next(fields.Length)]] = values[random.Next(values.Length)];
            string json = "{" + string.Join(",", body.Select(p => $"\"{p.Key}\":{p.Value}")) + "}";
            if (random.Next(20) == 0) json = json[..random.Next(json.Length)];
            string path = random.Next(2) == 0 ? Chat : Text;
            var (status, answer, _) = await Server.PostAsync(path, json);
            Assert.True(status < 500, $"{path} {json} → {status}: {answer}");
        }
    }

    [Fact]
    public async Task APromptLongerThanTheContextIsA400()
    {
        string words = string.Join(' ', Enumerable.Repeat("word", 5000));
        var (status, json, _) = await Server.PostAsync(Chat, JsonSerializer.Serialize(new { messages = new[] { new { role = "user", content = words } } }));
        Assert.Equal(400, status);
        Assert.Equal("messages", json.GetProperty("error").GetProperty("param").GetString());
        Assert.Equal("context_length_exceeded", json.GetProperty("error").GetProperty("code").GetString());

        (status, json, _) = await Server.PostAsync(Text, JsonSerializer.Serialize(new { prompt = words }));
        Assert.Equal(400, status);
        Assert.Equal("prompt", json.GetProperty("error").GetProperty("param").GetString());
    }

    [Fact]
    public async Task UnknownPathsAndWrongMethodsGetOpenAiErrors()
    {
        using var missing = await Server.Http.GetAsync("v1/engines");
        Assert.Equal(404, (int)missing.StatusCode);
        Assert.Contains("\"code\":\"not_found\"", await missing.Content.ReadAsStringAsync());
        using var wrong = await Server.Http.GetAsync(Chat);
        Assert.Equal(405, (int)wrong.StatusCode);
        Assert.Contains("\"error\"", await wrong.Content.ReadAsStringAsync());
        using var model = await Server.Http.GetAsync("v1/models/other");
        Assert.Equal(404, (int)model.StatusCode);
    }

    [Fact]
    public async Task BadInputsDoNotDisturbARequestInFlight()
    {
        const string good = """{"messages":[{"role":"user","content":"Keep talking."}],"max_tokens":40,"temperature":0.9,"seed":5,"ignore_eos":true,"stream":true}""";
        string solo = await StreamTextAsync(good);

        var streaming = StreamTextAsync(good);
        var bad = Cases().Select(c => Server.PostAsync((string)c[0], (string)c[1])).ToArray();
        var answers = await Task.WhenAll(bad);
        Assert.All(answers, a => Assert.InRange(a.Status, 400, 499));
        Assert.Equal(solo, await streaming);
        Assert.Equal(0, await Server.MetricAsync("mimo_requests_total{outcome=\"failed\"}"));
        Assert.DoesNotContain("code=\"500\"", await Server.Http.GetStringAsync("metrics"));
    }

    private async Task<string> StreamTextAsync(string body)
    {
        using var response = await Sse.StartAsync(Server.Http, Chat, body);
        var text = new StringBuilder();
        await foreach (var chunk in Sse.ReadAsync(response))
            if (chunk.GetProperty("choices")[0].GetProperty("delta").TryGetProperty("content", out var c)) text.Append(c.GetString());
        return text.ToString();
    }
}

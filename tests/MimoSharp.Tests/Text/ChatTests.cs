using System.CommandLine;
using MimoSharp.Cli.Commands;
using MimoSharp.Text;

namespace MimoSharp.Tests.Text;

public sealed class ChatTemplateTests
{
    private static readonly ToolDefinition Weather = ToolDefinition.FromJson(
        """{"type":"function","function":{"name":"get_weather","description":"Get weather","parameters":{"type":"object","properties":{"city":{"type":"string","description":"City"},"days":{"type":"integer"}},"required":["city"]}}}""");

    [Fact]
    public void ASimpleTurnHasThinkingOffByDefault()
    {
        string prompt = ChatTemplate.Render([ChatMessage.System("S"), ChatMessage.User("Hi")]);
        Assert.Equal("<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n", prompt);
        string thinking = ChatTemplate.Render([ChatMessage.User("Hi")], enableThinking: true);
        Assert.Equal("<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n", thinking);
    }

    [Fact]
    public void ToolUseRendersDefinitionsCallsAndResultsAndKeepsTheReasoningOfTheCurrentChain()
    {
        ChatMessage[] messages =
        [
            ChatMessage.User("old question"),
            ChatMessage.Assistant("old answer", reasoning: "old thoughts"),
            ChatMessage.User("Weather in Paris?"),
            ChatMessage.Assistant("", "need the tool", new ToolCall("get_weather", """{"city":"Paris","days":2}""")),
            ChatMessage.Tool("sunny"),
        ];
        string prompt = ChatTemplate.Render(messages, [Weather], enableThinking: true, defaultSystemPrompt: "SYS");
        Assert.StartsWith("<|im_start|>system\nSYS\n\n# Tools\n\nYou have access to the following functions:\n\n<tools>\n<function>\n<name>get_weather</name>\n<description>Get weather</description>\n<parameters>\n<parameter>\n<name>city</name>\n<type>string</type>\n<description>City</description>\n</parameter>", prompt);
        Assert.Contains("\n<required>[\"city\"]</required>\n</parameters>\n</function>\n</tools>", prompt);
        Assert.DoesNotContain("old thoughts", prompt); // before the last user query: dropped
        Assert.Contains("<|im_start|>assistant\nold answer<|im_end|>\n", prompt);
        Assert.Contains("<|im_start|>assistant\n<think>\nneed the tool\n</think>\n\n<tool_call>\n<function=get_weather>\n<parameter=city>\nParis\n</parameter>\n<parameter=days>\n2\n</parameter>\n</function>\n</tool_call><|im_end|>\n", prompt);
        Assert.EndsWith("<|im_start|>user\n<tool_response>\nsunny\n</tool_response>\n<|im_end|>\n<|im_start|>assistant\n", prompt);
    }

    [Fact]
    public void TheRecommendedSystemPromptFollowsTheModelCard()
    {
        Assert.Equal("You are MiMo, an AI assistant developed by Xiaomi.\n\nToday's date: 2025-12-16 Tuesday. Your knowledge cutoff date is December 2024.",
            ChatTemplate.RecommendedSystemPrompt(new DateOnly(2025, 12, 16)));
        Assert.Contains("星期二", ChatTemplate.RecommendedSystemPrompt(new DateOnly(2025, 12, 16), chinese: true));
    }

    [Fact]
    public void TheRenderedPromptTokenizesControlTokensAsSingleIds()
    {
        var tok = QwenTokenizerFixture.Instance.Tokenizer;
        int[] ids = tok.Encode(ChatTemplate.Render([ChatMessage.User("Hi")]));
        Assert.Equal(tok.GetId("<|im_start|>"), ids[0]);
        Assert.Contains(tok.GetId("<think>"), ids);
        Assert.Contains(tok.GetId("<|im_end|>"), ids);
    }
}

public sealed class ChatOutputParserTests
{
    private static readonly ToolDefinition Weather = ToolDefinition.FromJson(
        """{"name":"get_weather","parameters":{"type":"object","properties":{"city":{"type":"string"},"days":{"type":"integer"},"metric":{"type":"boolean"},"opts":{"type":"object"}}}}""");

    private const string Response =
        "<think>\nI should call the tool.\n</think>\n\nLet me check.\n<tool_call>\n<function=get_weather>\n<parameter=city>\nSan Francisco\n</parameter>\n<parameter=days>\n3\n</parameter>\n<parameter=metric>\ntrue\n</parameter>\n<parameter=opts>\n{\"a\": [1, 2]}\n</parameter>\n</function>\n</tool_call>\n<tool_call>\n<function=get_weather>\n<parameter=city>\nOslo\n</parameter>\n</function>\n</tool_call>";

    [Fact]
    public void AWholeResponseSplitsIntoReasoningContentAndTypedToolCalls()
    {
        ParsedChatOutput parsed = ChatOutputParser.Parse(Response, [Weather]);
        Assert.Equal("I should call the tool.", parsed.ReasoningContent);
        Assert.Equal("Let me check.\n", parsed.Content);
        Assert.Equal(2, parsed.ToolCalls.Count);
        Assert.Equal("get_weather", parsed.ToolCalls[0].Name);
        Assert.Equal("""{"city":"San Francisco","days":3,"metric":true,"opts":{"a":[1,2]}}""", parsed.ToolCalls[0].ArgumentsJson);
        Assert.Equal("""{"city":"Oslo"}""", parsed.ToolCalls[1].ArgumentsJson);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(7)]
    public void StreamingInAnyChunkingGivesTheSameResult(int chunk)
    {
        var parser = new ChatOutputParser([Weather]);
        string reasoning = "", content = "";
        var calls = new List<ToolCall>();
        for (int i = 0; i < Response.Length; i += chunk)
        {
            ChatOutputDelta d = parser.Push(Response.Substring(i, Math.Min(chunk, Response.Length - i)));
            Assert.DoesNotContain("<", d.Content); // a tag is never leaked half-seen
            reasoning += d.Reasoning;
            content += d.Content;
            calls.AddRange(d.ToolCalls);
        }
        ChatOutputDelta last = parser.Finish();
        reasoning += last.Reasoning;
        content += last.Content;
        calls.AddRange(last.ToolCalls);
        ParsedChatOutput whole = ChatOutputParser.Parse(Response, [Weather]);
        Assert.Equal(whole.ReasoningContent, reasoning);
        Assert.Equal(whole.Content, content);
        Assert.Equal(whole.ToolCalls, calls);
    }

    [Theory]
    [InlineData("<tool_call>\nnot a call\n</tool_call>")]
    [InlineData("<tool_call>\n<function=f>\n<parameter=x>1</parameter>\n")]
    [InlineData("<tool_call><function=f")]
    [InlineData("<tool_call>\n<function=f>\n</function>\ntrailing junk\n</tool_call>")]
    [InlineData("</think>only a close")]
    [InlineData("<think>never closed")]
    [InlineData("<<<>>></tool_call><function=>")]
    public void MalformedOutputNeverThrowsAndStaysContent(string text)
    {
        ParsedChatOutput parsed = ChatOutputParser.Parse(text, [Weather]);
        Assert.Empty(parsed.ToolCalls);
        Assert.Equal(text.Replace("<think>", "", StringComparison.Ordinal), (parsed.ReasoningContent ?? "") + parsed.Content);
    }

    [Fact]
    public void NoReasoningSectionGivesNullReasoningAndPromptOpenedThinkingIsHonoured()
    {
        Assert.Null(ChatOutputParser.Parse("just text").ReasoningContent);
        ParsedChatOutput opened = ChatOutputParser.Parse("thinking here\n</think>\n\nanswer", startInReasoning: true);
        Assert.Equal("thinking here", opened.ReasoningContent);
        Assert.Equal("answer", opened.Content);
    }

    [Fact]
    public void OutputOfAThinkingOffPromptHasItsEmptyReasoningStrippedCleanly()
    {
        ParsedChatOutput parsed = ChatOutputParser.Parse("Hello!", startInReasoning: false);
        Assert.Equal("Hello!", parsed.Content);
    }
}

public sealed class TextCommandsTests
{
    private static (int Code, string Out, string Err) Invoke(params string[] args)
    {
        var root = new RootCommand();
        foreach (Command c in TextCommands.Create()) root.Subcommands.Add(c);
        var output = new StringWriter();
        var error = new StringWriter();
        int code = root.Parse(args).Invoke(new InvocationConfiguration { Output = output, Error = error });
        return (code, output.ToString(), error.ToString());
    }

    [Fact]
    public void TokenizePrintsJsonIdsAndDetokenizeInvertsIt()
    {
        string path = QwenTokenizerFixture.Instance.Path;
        var (code, stdout, _) = Invoke("tokenize", "--tokenizer", path, "--text", "Hello world");
        Assert.Equal(0, code);
        Assert.Equal("[9707,1879]", stdout.Trim());
        var (code2, text, _) = Invoke("detokenize", "--tokenizer", path, "--ids", "[9707,1879]");
        Assert.Equal(0, code2);
        Assert.Equal("Hello world", text);
    }

    [Fact]
    public void TokenizingAFileKeepsItsBomAndCrLf()
    {
        string file = Path.GetTempFileName();
        File.WriteAllBytes(file, [0xEF, 0xBB, 0xBF, (byte)'a', (byte)'\r', (byte)'\n']);
        try
        {
            var tok = QwenTokenizerFixture.Instance.Tokenizer;
            var (code, stdout, _) = Invoke("tokenize", "--tokenizer", QwenTokenizerFixture.Instance.Path, "--text-file", file);
            Assert.Equal(0, code);
            Assert.Equal("[" + string.Join(",", tok.Encode("\uFEFFa\r\n")) + "]", stdout.Trim());
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Fact]
    public void TruncateWritesASmallTokenizer()
    {
        string output = Path.GetTempFileName();
        try
        {
            var (code, stdout, err) = Invoke("tokenizer", "truncate", "--tokenizer", QwenTokenizerFixture.Instance.Path, "--vocab", "1000", "--out", output);
            Assert.True(code == 0, err);
            Assert.Contains("vocab_size 1026", stdout);
            Assert.Equal(1026, Tokenizer.FromFile(output).VocabSize);
        }
        finally
        {
            File.Delete(output);
        }
    }

    [Fact]
    public void BadArgumentsGiveAClearError()
    {
        var (code, _, err) = Invoke("tokenize", "--tokenizer", "/nope/tokenizer.json", "--text", "x");
        Assert.NotEqual(0, code);
        Assert.Contains("/nope/tokenizer.json", err);
    }
}

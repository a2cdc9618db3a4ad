using System.Text;
using System.Text.Json;
using MimoSharp.Inference;
using MimoSharp.Server.Engine;
using MimoSharp.Server.Http.Contracts;
using MimoSharp.Text;
using static MimoSharp.Server.Http.RequestJson;

namespace MimoSharp.Server.Http;

/// <summary>
/// The one place a request body, read into its contract, is judged and turned into the engine's terms. Every error
/// is an <see cref="InvalidRequestException"/> naming its field by path ("messages[2].tool_calls[0].function.arguments").
/// What the engine checks itself (sampling ranges, context length, token ids) it reports under the same names.
/// </summary>
internal static class RequestValidator
{
    private const int MaxStopStrings = 16;

    private static OpenAiJsonContext Json => OpenAiJsonContext.Relaxed;

    public static ChatCompletionRequest Chat(ChatCompletionParams body, MimoEngine engine)
    {
        var fields = Generation(body, engine);
        var messages = Messages(body.Messages);
        var tools = Tools(body);
        CheckResponseFormat(body.ResponseFormat);
        var request = new ChatRequest(messages)
        {
            Tools = tools,
            EnableThinking = EnableThinking(body),
            MaxTokens = fields.MaxTokens,
            Sampling = fields.Sampling,
            Stop = fields.Stop,
            IgnoreEos = fields.IgnoreEos,
        };
        return new ChatCompletionRequest(request, fields);
    }

    public static TextCompletionRequest Completion(CompletionParams body, MimoEngine engine)
    {
        var fields = Generation(body, engine);
        if (body.Echo == true)
            throw new InvalidRequestException("echo", "echo is not supported", "unsupported_value");
        if (body.Suffix is { Length: > 0 })
            throw new InvalidRequestException("suffix", "suffix is not supported", "unsupported_value");
        if (body.BestOf?.Value is long bestOf && bestOf != 1)
            throw new InvalidRequestException("best_of", $"best_of must be 1, got {bestOf}", "invalid_value");
        var request = Prompt(body.Prompt) with
        {
            MaxTokens = fields.MaxTokens ?? Math.Min(TextCompletionRequest.DefaultMaxTokens, engine.MaxTokensLimit),
            Sampling = fields.Sampling,
            Stop = fields.Stop,
            IgnoreEos = fields.IgnoreEos,
        };
        return new TextCompletionRequest(request, fields);
    }

    private static GenerationFields Generation(GenerationParams body, MimoEngine engine)
    {
        if (body.Model is { } model && model != engine.ModelId)
            throw new InvalidRequestException("model",
                $"the model '{model}' does not exist; this server serves '{engine.ModelId}'", "model_not_found", statusCode: 404);

        if (body.N?.Value is long n && n != 1)
            throw new InvalidRequestException("n", $"n must be 1 (one choice per request), got {n}", "invalid_value");
        foreach (var (name, penalty) in new[] { ("presence_penalty", body.PresencePenalty), ("frequency_penalty", body.FrequencyPenalty) })
            if (penalty is double p && p != 0)
                throw new InvalidRequestException(name, $"{name} is not supported (only 0); use repetition_penalty", "unsupported_value");
        if (body.Logprobs == true)
            throw new InvalidRequestException("logprobs", "logprobs are not supported", "unsupported_value");

        var sampling = new SamplingOptions
        {
            // OpenAI's defaults: temperature 1, top_p 1.
            Temperature = (float)(body.Temperature ?? 1.0),
            TopP = (float)(body.TopP ?? 1.0),
            TopK = TopK(body.TopK?.Value is long k ? (int)Math.Clamp(k, int.MinValue, int.MaxValue) : null),
            MinP = (float)(body.MinP ?? 0.0),
            RepetitionPenalty = (float)(body.RepetitionPenalty ?? 1.0),
            Seed = body.Seed?.Value is long seed ? unchecked((ulong)seed) : null,
        };
        if (sampling.Temperature > 2)
            throw new InvalidRequestException("temperature", $"temperature must be between 0 and 2, got {sampling.Temperature}", "invalid_value");

        // max_completion_tokens is OpenAI's current name; max_tokens the older one that most clients still send.
        string maxField = body.MaxCompletionTokens is not null ? "max_completion_tokens" : "max_tokens";
        var given = body.MaxCompletionTokens ?? body.MaxTokens;
        long? max = given?.Value;
        if (max is < 1)
            throw new InvalidRequestException(maxField, $"{maxField} must be ≥ 1, got {max}", "invalid_value");
        if (max > int.MaxValue)
            throw new InvalidRequestException(maxField, $"{maxField} is {given!.Value.Literal}, more than this server allows ({engine.MaxTokensLimit})", "invalid_value");

        return new GenerationFields(sampling, (int?)max, maxField, Stop(body.Stop), body.IgnoreEos ?? false,
            body.Stream ?? false, body.StreamOptions?.IncludeUsage ?? false);
    }

    // vLLM spells "no top-k" as -1; the sampler as 0.
    private static int TopK(int? value) => value switch
    {
        null or -1 => 0,
        < 0 => throw new InvalidRequestException("top_k", $"top_k must be ≥ 0 (or -1 for off), got {value}", "invalid_value"),
        _ => value.Value,
    };

    private static IReadOnlyList<string> Stop(JsonElement? value)
    {
        if (Given(value) is not { } stop) return [];
        if (stop.ValueKind == JsonValueKind.String) return [RequestJson.Text(stop, "stop")];
        if (stop.ValueKind != JsonValueKind.Array) throw WrongType("stop", "a string or an array of strings", stop.ValueKind);
        if (stop.GetArrayLength() > MaxStopStrings)
            throw new InvalidRequestException("stop", $"stop may have at most {MaxStopStrings} strings, got {stop.GetArrayLength()}", "invalid_value");
        var strings = Read(stop, Json.ListString, "stop");
        for (int i = 0; i < strings.Count; i++)
            if (strings[i] is null) throw WrongType($"stop[{i}]", "a string", JsonValueKind.Null);
        return strings!;
    }

    private static List<ChatMessage> Messages(List<MessageParam?>? given)
    {
        var list = given ?? throw new InvalidRequestException("messages", "messages is required: an array of {role, content} objects", "missing_field");
        var messages = new List<ChatMessage>(list.Count);
        for (int i = 0; i < list.Count; i++) messages.Add(Message(list[i], $"messages[{i}]"));
        if (messages.Count == 0)
            throw new InvalidRequestException("messages", "messages must contain at least one message", "empty_messages");
        return messages;
    }

    private static ChatMessage Message(MessageParam? message, string path)
    {
        if (message is null) throw WrongType(path, "an object", JsonValueKind.Null);
        string role = message.Role ?? throw new InvalidRequestException($"{path}.role", $"{path}.role is required", "missing_field");
        string? content = Content(message.Content, $"{path}.content");
        return role switch
        {
            "system" or "developer" => ChatMessage.System(content ?? ""),
            "user" => ChatMessage.User(content
                ?? throw new InvalidRequestException($"{path}.content", $"{path}.content is required for a user message", "missing_field")),
            "tool" => ChatMessage.Tool(content ?? ""),
            "assistant" => ChatMessage.Assistant(content ?? "", message.ReasoningContent, ToolCalls(message.ToolCalls, $"{path}.tool_calls")),
            _ => throw new InvalidRequestException($"{path}.role",
                $"{path}.role must be one of system, developer, user, assistant, tool; got '{role}'", "invalid_value"),
        };
    }

    // Content is a string or an array of text parts; other part types (images, audio) this model cannot read.
    private static string? Content(JsonElement? value, string path)
    {
        if (Given(value) is not { } content) return null;
        if (content.ValueKind == JsonValueKind.String) return RequestJson.Text(content, path);
        if (content.ValueKind != JsonValueKind.Array) throw WrongType(path, "a string or an array of content parts", content.ValueKind);
        var parts = Read(content, Json.ListContentPartParam, path);
        var text = new StringBuilder();
        for (int j = 0; j < parts.Count; j++)
        {
            string partPath = $"{path}[{j}]";
            var part = parts[j] ?? throw WrongType(partPath, "an object", JsonValueKind.Null);
            string type = part.Type ?? "text";
            if (type != "text")
                throw new InvalidRequestException($"{partPath}.type", $"{partPath}.type '{type}' is not supported: this model reads text only", "unsupported_value");
            text.Append(part.Text ?? throw new InvalidRequestException($"{partPath}.text", $"{partPath}.text is required", "missing_field"));
        }
        return text.ToString();
    }

    private static ToolCall[] ToolCalls(List<ToolCallParam?>? given, string path)
    {
        if (given is null) return [];
        var calls = new ToolCall[given.Count];
        for (int i = 0; i < given.Count; i++)
        {
            string callPath = $"{path}[{i}]";
            var call = given[i] ?? throw WrongType(callPath, "an object", JsonValueKind.Null);
            var function = call.Function
                ?? throw new InvalidRequestException($"{callPath}.function", $"{callPath}.function is required", "missing_field");
            string name = function.Name
                ?? throw new InvalidRequestException($"{callPath}.function.name", $"{callPath}.function.name is required", "missing_field");
            string argumentsPath = $"{callPath}.function.arguments";
            // OpenAI sends arguments as a JSON text; accept an object too.
            string arguments = Given(function.Arguments) switch
            {
                null => "{}",
                { ValueKind: JsonValueKind.String } s => JsonText(RequestJson.Text(s, argumentsPath), argumentsPath),
                { ValueKind: JsonValueKind.Object } o => o.GetRawText(),
                { } other => throw WrongType(argumentsPath, "a JSON string", other.ValueKind),
            };
            calls[i] = new ToolCall(name, arguments);
        }
        return calls;
    }

    // The chat template reads the arguments as JSON; a broken text is the client's error, named here.
    private static string JsonText(string text, string path)
    {
        if (string.IsNullOrWhiteSpace(text)) return text;
        try
        {
            using var _ = JsonDocument.Parse(text);
            return text;
        }
        catch (JsonException e)
        {
            throw new InvalidRequestException(path, $"{path} must be JSON text: {e.Message}", "invalid_value");
        }
    }

    private static IReadOnlyList<ToolDefinition> Tools(ChatCompletionParams body)
    {
        var choice = Given(body.ToolChoice);
        if (choice is { ValueKind: not JsonValueKind.String } other)
            throw new InvalidRequestException("tool_choice", $"tool_choice must be \"auto\" or \"none\" (forcing a function is not supported), got {other.ValueKind}", "unsupported_value");
        string toolChoice = choice is { } named ? RequestJson.Text(named, "tool_choice") : "auto";
        if (toolChoice is not ("auto" or "none"))
            throw new InvalidRequestException("tool_choice", $"tool_choice '{toolChoice}' is not supported: use \"auto\" or \"none\"", "unsupported_value");
        if (body.Tools is not { } given || toolChoice == "none") return [];
        var tools = new ToolDefinition[given.Count];
        for (int i = 0; i < given.Count; i++)
        {
            string path = $"tools[{i}]";
            var tool = given[i] ?? throw WrongType(path, "an object", JsonValueKind.Null);
            if (tool.Type is { } type && type != "function")
                throw new InvalidRequestException($"{path}.type", $"{path}.type must be \"function\", got '{type}'", "unsupported_value");
            var function = tool.Function
                ?? throw new InvalidRequestException($"{path}.function", $"{path}.function is required", "missing_field");
            if (function.Name is not { Length: > 0 } name)
                throw new InvalidRequestException($"{path}.function.name", $"{path}.function.name is required", "missing_field");
            var parameters = Given(function.Parameters);
            if (parameters is { ValueKind: not JsonValueKind.Object } schema)
                throw WrongType($"{path}.function.parameters", "an object", schema.ValueKind);
            tools[i] = new ToolDefinition(name, function.Description, parameters);
        }
        return tools;
    }

    // chat_template_kwargs.enable_thinking (vLLM/SGLang) wins; OpenAI's reasoning_effort is the portable switch.
    private static bool EnableThinking(ChatCompletionParams body) =>
        body.ChatTemplateKwargs?.EnableThinking ?? body.ReasoningEffort switch
        {
            null or "none" => false,
            "minimal" or "low" or "medium" or "high" or "xhigh" => true,
            var other => throw new InvalidRequestException("reasoning_effort",
                $"reasoning_effort must be none, minimal, low, medium, high or xhigh; got '{other}'", "invalid_value"),
        };

    private static void CheckResponseFormat(ResponseFormatParam? format)
    {
        if (format is null) return;
        string type = format.Type ?? "text";
        if (type != "text")
            throw new InvalidRequestException("response_format.type", $"response_format '{type}' is not supported: only \"text\"", "unsupported_value");
    }

    // A string, an array of token ids, or a one-element array of either: which one only the JSON kinds tell.
    private static CompletionRequest Prompt(JsonElement? value)
    {
        var prompt = Given(value)
            ?? throw new InvalidRequestException("prompt", "prompt is required: a string or an array of token ids", "missing_field");
        if (prompt.ValueKind == JsonValueKind.String) return new CompletionRequest { Prompt = RequestJson.Text(prompt, "prompt") };
        if (prompt.ValueKind != JsonValueKind.Array) throw WrongType("prompt", "a string or an array of token ids", prompt.ValueKind);
        int count = prompt.GetArrayLength();
        if (count == 0) throw new InvalidRequestException("prompt", "prompt must not be empty", "empty_prompt");
        var first = prompt[0];
        if (first.ValueKind is JsonValueKind.String or JsonValueKind.Array)
        {
            if (count != 1) throw new InvalidRequestException("prompt", $"only one prompt per request is supported, got {count}", "unsupported_value");
            if (first.ValueKind == JsonValueKind.String) return new CompletionRequest { Prompt = RequestJson.Text(first, "prompt[0]") };
            return new CompletionRequest { PromptIds = Ids(first, "prompt[0]") };
        }
        return new CompletionRequest { PromptIds = Ids(prompt, "prompt") };
    }

    private static int[] Ids(JsonElement array, string path)
    {
        var ids = new int[array.GetArrayLength()];
        int i = 0;
        foreach (var item in array.EnumerateArray())
        {
            if (item.ValueKind != JsonValueKind.Number || !item.TryGetInt32(out ids[i]))
                throw WrongType($"{path}[{i}]", "an integer token id", item.ValueKind);
            i++;
        }
        if (ids.Length == 0) throw new InvalidRequestException(path, $"{path} must not be empty", "empty_prompt");
        return ids;
    }
}

using System.Text.Json;
using MimoSharp.Server.Engine;
using MimoSharp.Text;

namespace MimoSharp.Server.Http;

/// <summary>A POST /v1/chat/completions body, read field by field so that every error names its field.</summary>
internal sealed record ChatCompletionRequest(ChatRequest Request, GenerationFields Fields)
{
    public static ChatCompletionRequest Parse(JsonElement root, MimoEngine engine)
    {
        if (root.ValueKind != JsonValueKind.Object) throw JsonFields.WrongType("body", "a JSON object", root);
        JsonFields.CheckText(root);
        var fields = GenerationFields.Read(root, engine);
        var messages = Messages(root);
        var tools = Tools(root);
        CheckResponseFormat(root);
        var request = new ChatRequest(messages)
        {
            Tools = tools,
            EnableThinking = EnableThinking(root),
            MaxTokens = fields.MaxTokens,
            Sampling = fields.Sampling,
            Stop = fields.Stop,
            IgnoreEos = fields.IgnoreEos,
        };
        return new ChatCompletionRequest(request, fields);
    }

    private static List<ChatMessage> Messages(JsonElement root)
    {
        var array = JsonFields.Array(root, "messages", "messages")
            ?? throw new InvalidRequestException("messages", "messages is required: an array of {role, content} objects", "missing_field");
        var messages = new List<ChatMessage>();
        int i = 0;
        foreach (var item in array.EnumerateArray())
        {
            messages.Add(Message(item, $"messages[{i}]"));
            i++;
        }
        if (messages.Count == 0)
            throw new InvalidRequestException("messages", "messages must contain at least one message", "empty_messages");
        return messages;
    }

    private static ChatMessage Message(JsonElement item, string path)
    {
        if (item.ValueKind != JsonValueKind.Object) throw JsonFields.WrongType(path, "an object", item);
        string role = JsonFields.String(item, "role", $"{path}.role")
            ?? throw new InvalidRequestException($"{path}.role", $"{path}.role is required", "missing_field");
        string? content = Content(item, $"{path}.content");
        switch (role)
        {
            case "system" or "developer":
                return ChatMessage.System(content ?? "");
            case "user":
                return ChatMessage.User(content ?? throw new InvalidRequestException($"{path}.content", $"{path}.content is required for a user message", "missing_field"));
            case "tool":
                return ChatMessage.Tool(content ?? "");
            case "assistant":
                var calls = ToolCalls(item, $"{path}.tool_calls");
                return ChatMessage.Assistant(content ?? "", JsonFields.String(item, "reasoning_content", $"{path}.reasoning_content"), calls);
            default:
                throw new InvalidRequestException($"{path}.role",
                    $"{path}.role must be one of system, developer, user, assistant, tool; got '{role}'", "invalid_value");
        }
    }

    // Content is a string or an array of text parts; other part types (images, audio) this model cannot read.
    private static string? Content(JsonElement message, string path)
    {
        if (JsonFields.Get(message, "content") is not { } content) return null;
        if (content.ValueKind == JsonValueKind.String) return JsonFields.Text(content, path);
        if (content.ValueKind != JsonValueKind.Array) throw JsonFields.WrongType(path, "a string or an array of content parts", content);
        var text = new System.Text.StringBuilder();
        int j = 0;
        foreach (var part in content.EnumerateArray())
        {
            string partPath = $"{path}[{j}]";
            if (part.ValueKind != JsonValueKind.Object) throw JsonFields.WrongType(partPath, "an object", part);
            string type = JsonFields.String(part, "type", $"{partPath}.type") ?? "text";
            if (type != "text")
                throw new InvalidRequestException($"{partPath}.type", $"{partPath}.type '{type}' is not supported: this model reads text only", "unsupported_value");
            text.Append(JsonFields.String(part, "text", $"{partPath}.text")
                ?? throw new InvalidRequestException($"{partPath}.text", $"{partPath}.text is required", "missing_field"));
            j++;
        }
        return text.ToString();
    }

    private static ToolCall[] ToolCalls(JsonElement message, string path)
    {
        if (JsonFields.Array(message, "tool_calls", path) is not { } array) return [];
        var calls = new List<ToolCall>();
        int i = 0;
        foreach (var call in array.EnumerateArray())
        {
            string callPath = $"{path}[{i}]";
            if (call.ValueKind != JsonValueKind.Object) throw JsonFields.WrongType(callPath, "an object", call);
            var function = JsonFields.Object(call, "function", $"{callPath}.function")
                ?? throw new InvalidRequestException($"{callPath}.function", $"{callPath}.function is required", "missing_field");
            string name = JsonFields.String(function, "name", $"{callPath}.function.name")
                ?? throw new InvalidRequestException($"{callPath}.function.name", $"{callPath}.function.name is required", "missing_field");
            // OpenAI sends arguments as a JSON text; accept an object too.
            string arguments = JsonFields.Get(function, "arguments") switch
            {
                null => "{}",
                { ValueKind: JsonValueKind.String } s => JsonText(JsonFields.Text(s, $"{callPath}.function.arguments"), $"{callPath}.function.arguments"),
                { ValueKind: JsonValueKind.Object } o => o.GetRawText(),
                { } other => throw JsonFields.WrongType($"{callPath}.function.arguments", "a JSON string", other),
            };
            calls.Add(new ToolCall(name, arguments));
            i++;
        }
        return calls.ToArray();
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

    private static IReadOnlyList<ToolDefinition> Tools(JsonElement root)
    {
        var choice = JsonFields.Get(root, "tool_choice");
        if (choice is { ValueKind: not JsonValueKind.String } other)
            throw new InvalidRequestException("tool_choice", $"tool_choice must be \"auto\" or \"none\" (forcing a function is not supported), got {other.ValueKind}", "unsupported_value");
        string toolChoice = JsonFields.String(root, "tool_choice", "tool_choice") ?? "auto";
        if (toolChoice is not ("auto" or "none"))
            throw new InvalidRequestException("tool_choice", $"tool_choice '{toolChoice}' is not supported: use \"auto\" or \"none\"", "unsupported_value");
        if (JsonFields.Array(root, "tools", "tools") is not { } array) return [];
        if (toolChoice == "none") return [];
        var tools = new List<ToolDefinition>();
        int i = 0;
        foreach (var tool in array.EnumerateArray())
        {
            string path = $"tools[{i}]";
            if (tool.ValueKind != JsonValueKind.Object) throw JsonFields.WrongType(path, "an object", tool);
            if (JsonFields.String(tool, "type", $"{path}.type") is { } type && type != "function")
                throw new InvalidRequestException($"{path}.type", $"{path}.type must be \"function\", got '{type}'", "unsupported_value");
            var function = JsonFields.Object(tool, "function", $"{path}.function")
                ?? throw new InvalidRequestException($"{path}.function", $"{path}.function is required", "missing_field");
            if (JsonFields.String(function, "name", $"{path}.function.name") is not { Length: > 0 })
                throw new InvalidRequestException($"{path}.function.name", $"{path}.function.name is required", "missing_field");
            JsonFields.Object(function, "parameters", $"{path}.function.parameters");
            JsonFields.String(function, "description", $"{path}.function.description");
            tools.Add(ToolDefinition.FromJson(tool.GetRawText()));
            i++;
        }
        return tools;
    }

    // chat_template_kwargs.enable_thinking (vLLM/SGLang) wins; OpenAI's reasoning_effort is the portable switch.
    private static bool EnableThinking(JsonElement root)
    {
        if (JsonFields.Object(root, "chat_template_kwargs", "chat_template_kwargs") is { } kwargs
            && JsonFields.Bool(kwargs, "enable_thinking", "chat_template_kwargs.enable_thinking") is bool thinking)
            return thinking;
        return JsonFields.String(root, "reasoning_effort", "reasoning_effort") switch
        {
            null or "none" => false,
            "minimal" or "low" or "medium" or "high" or "xhigh" => true,
            var other => throw new InvalidRequestException("reasoning_effort",
                $"reasoning_effort must be none, minimal, low, medium, high or xhigh; got '{other}'", "invalid_value"),
        };
    }

    private static void CheckResponseFormat(JsonElement root)
    {
        if (JsonFields.Object(root, "response_format", "response_format") is not { } format) return;
        string type = JsonFields.String(format, "type", "response_format.type") ?? "text";
        if (type != "text")
            throw new InvalidRequestException("response_format.type", $"response_format '{type}' is not supported: only \"text\"", "unsupported_value");
    }
}

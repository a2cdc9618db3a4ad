using System.Text.Json;

namespace MimoSharp.Server.Http.Contracts;

/// <summary>A POST /v1/chat/completions body as the client sent it (OpenAI's "create chat completion" parameters).</summary>
internal sealed record ChatCompletionParams : GenerationParams
{
    public List<MessageParam?>? Messages { get; init; }
    public List<ToolParam?>? Tools { get; init; }

    /// <summary>"auto" or "none"; an object (forcing a function) is refused by name, so it is kept as sent.</summary>
    public JsonElement? ToolChoice { get; init; }

    public ResponseFormatParam? ResponseFormat { get; init; }

    /// <summary>vLLM's and SGLang's switch for template options such as enable_thinking.</summary>
    public ChatTemplateKwargsParam? ChatTemplateKwargs { get; init; }

    public string? ReasoningEffort { get; init; }
}

/// <summary>One entry of messages[].</summary>
internal sealed record MessageParam
{
    public string? Role { get; init; }

    /// <summary>A string or an array of content parts.</summary>
    public JsonElement? Content { get; init; }

    public string? ReasoningContent { get; init; }
    public List<ToolCallParam?>? ToolCalls { get; init; }
}

/// <summary>One entry of a message's content array; only "text" parts are readable by this model.</summary>
internal sealed record ContentPartParam
{
    public string? Type { get; init; }
    public string? Text { get; init; }
}

/// <summary>An earlier assistant turn's tool call.</summary>
internal sealed record ToolCallParam
{
    public FunctionCallParam? Function { get; init; }
}

/// <summary>A called function: its name and arguments (OpenAI sends a JSON text; an object is accepted too).</summary>
internal sealed record FunctionCallParam
{
    public string? Name { get; init; }
    public JsonElement? Arguments { get; init; }
}

/// <summary>One entry of tools[]: {"type": "function", "function": {...}}.</summary>
internal sealed record ToolParam
{
    public string? Type { get; init; }
    public FunctionParam? Function { get; init; }
}

/// <summary>A function the model may call; its parameters are a JSON Schema object, kept as sent for the chat template.</summary>
internal sealed record FunctionParam
{
    public string? Name { get; init; }
    public string? Description { get; init; }
    public JsonElement? Parameters { get; init; }
}

/// <summary>response_format: only {"type": "text"} is served.</summary>
internal sealed record ResponseFormatParam
{
    public string? Type { get; init; }
}

/// <summary>chat_template_kwargs.</summary>
internal sealed record ChatTemplateKwargsParam
{
    public bool? EnableThinking { get; init; }
}

using System.Text.Json;

namespace MimoSharp.Text;

/// <summary>Who speaks a chat turn; tool turns carry a tool's result back to the model.</summary>
public enum ChatRole { System, User, Assistant, Tool }

/// <summary>
/// One chat turn. Assistant turns may carry the reasoning that preceded them (<see cref="ReasoningContent"/>,
/// which MiMo wants sent back during multi-turn tool use) and the tool calls they made.
/// </summary>
public sealed record ChatMessage(ChatRole Role, string Content)
{
    public string? ReasoningContent { get; init; }
    public IReadOnlyList<ToolCall> ToolCalls { get; init; } = [];

    public static ChatMessage System(string content) => new(ChatRole.System, content);
    public static ChatMessage User(string content) => new(ChatRole.User, content);
    public static ChatMessage Assistant(string content, string? reasoning = null, params ToolCall[] toolCalls) =>
        new(ChatRole.Assistant, content) { ReasoningContent = reasoning, ToolCalls = toolCalls };
    public static ChatMessage Tool(string content) => new(ChatRole.Tool, content);
}

/// <summary>A function call: its name and its arguments as a JSON object text (OpenAI's "arguments").</summary>
public sealed record ToolCall(string Name, string ArgumentsJson);

/// <summary>
/// A function the model may call, as OpenAI's tools[].function: name, description and a JSON Schema
/// object for its parameters.
/// </summary>
public sealed record ToolDefinition(string Name, string? Description, JsonElement? Parameters)
{
    /// <summary>
    /// Reads an OpenAI tool: either {"type":"function","function":{...}} or the bare function object.
    /// </summary>
    public static ToolDefinition FromJson(string json)
    {
        using JsonDocument doc = JsonDocument.Parse(json);
        JsonElement fn = doc.RootElement.TryGetProperty("function", out JsonElement inner) ? inner : doc.RootElement;
        if (!fn.TryGetProperty("name", out JsonElement name) || name.ValueKind != JsonValueKind.String)
            throw new ArgumentException($"Tool definition has no string \"name\": {json}", nameof(json));
        string? description = fn.TryGetProperty("description", out JsonElement d) && d.ValueKind == JsonValueKind.String ? d.GetString() : null;
        JsonElement? parameters = fn.TryGetProperty("parameters", out JsonElement p) && p.ValueKind == JsonValueKind.Object ? p.Clone() : null;
        return new ToolDefinition(name.GetString()!, description, parameters);
    }

    /// <summary>The JSON Schema "type" of a parameter, if the schema declares one.</summary>
    public string? ParameterType(string parameter)
    {
        if (Parameters is not { } schema || !schema.TryGetProperty("properties", out JsonElement props)
            || props.ValueKind != JsonValueKind.Object || !props.TryGetProperty(parameter, out JsonElement field)
            || field.ValueKind != JsonValueKind.Object || !field.TryGetProperty("type", out JsonElement type))
            return null;
        return type.ValueKind == JsonValueKind.String ? type.GetString() : null;
    }
}

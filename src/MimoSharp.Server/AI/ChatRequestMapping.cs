using System.Text;
using System.Text.Json;
using Microsoft.Extensions.AI;
using MimoSharp.Inference;
using MimoSharp.Server.Engine;
using AIChatMessage = Microsoft.Extensions.AI.ChatMessage;
using AIChatRole = Microsoft.Extensions.AI.ChatRole;
using MimoChatMessage = MimoSharp.Text.ChatMessage;
using ToolCall = MimoSharp.Text.ToolCall;
using ToolDefinition = MimoSharp.Text.ToolDefinition;

namespace MimoSharp.Server.AI;

/// <summary>
/// Microsoft.Extensions.AI messages and options in the engine's terms: function calls and results become
/// MiMo's tool turns, reasoning content goes back as reasoning, ChatOptions become sampling and limits.
/// Anything the model cannot take (images, forced tool choice) is an <see cref="InvalidRequestException"/>.
/// </summary>
internal static class ChatRequestMapping
{
    public static ChatRequest ToRequest(IEnumerable<AIChatMessage> messages, ChatOptions? options, MimoEngine engine)
    {
        ArgumentNullException.ThrowIfNull(messages);
        if (options?.ModelId is { } model && model != engine.ModelId)
            throw new InvalidRequestException("model", $"the model '{model}' does not exist; this engine serves '{engine.ModelId}'", "model_not_found", 404);
        if (options?.FrequencyPenalty is float f && f != 0)
            throw new InvalidRequestException("frequency_penalty", "frequency_penalty is not supported (only 0)", "unsupported_value");
        if (options?.PresencePenalty is float p && p != 0)
            throw new InvalidRequestException("presence_penalty", "presence_penalty is not supported (only 0)", "unsupported_value");

        var converted = new List<MimoChatMessage>();
        if (options?.Instructions is { Length: > 0 } instructions) converted.Add(MimoChatMessage.System(instructions));
        int i = 0;
        foreach (var message in messages)
        {
            converted.AddRange(Convert(message, $"messages[{i}]"));
            i++;
        }
        // Instructions and a leading system message are one system turn for the template.
        if (converted.Count > 1 && converted[0].Role == Text.ChatRole.System && converted[1].Role == Text.ChatRole.System)
        {
            converted[0] = MimoChatMessage.System(converted[0].Content + "\n\n" + converted[1].Content);
            converted.RemoveAt(1);
        }

        return new ChatRequest(converted)
        {
            Tools = Tools(options),
            EnableThinking = Thinking(options),
            MaxTokens = options?.MaxOutputTokens,
            Sampling = new SamplingOptions
            {
                // OpenAI's default temperature, as over HTTP, so both paths answer alike.
                Temperature = options?.Temperature ?? 1f,
                TopP = options?.TopP ?? 1f,
                TopK = options?.TopK ?? 0,
                Seed = options?.Seed is long seed ? unchecked((ulong)seed) : null,
            },
            Stop = options?.StopSequences?.ToArray() ?? [],
            IgnoreEos = Flag(options, "ignore_eos") ?? false,
        };
    }

    private static IEnumerable<MimoChatMessage> Convert(AIChatMessage message, string path)
    {
        var text = new StringBuilder();
        var reasoning = new StringBuilder();
        var calls = new List<ToolCall>();
        var results = new List<MimoChatMessage>();
        bool sawReasoning = false;
        foreach (var content in message.Contents)
        {
            switch (content)
            {
                case TextContent t:
                    text.Append(t.Text);
                    break;
                case TextReasoningContent r:
                    reasoning.Append(r.Text);
                    sawReasoning = true;
                    break;
                case FunctionCallContent call:
                    calls.Add(new ToolCall(call.Name, JsonSerializer.Serialize(call.Arguments ?? new Dictionary<string, object?>(), AIJsonUtilities.DefaultOptions)));
                    break;
                case FunctionResultContent result:
                    // Strings go in as written (an AIFunction's string result arrives as a JSON string element).
                    results.Add(MimoChatMessage.Tool(result.Result switch
                    {
                        null => "",
                        string s => s,
                        JsonElement { ValueKind: JsonValueKind.String } e => e.GetString()!,
                        var other => JsonSerializer.Serialize(other, AIJsonUtilities.DefaultOptions),
                    }));
                    break;
                case UsageContent:
                    break;
                default:
                    throw new InvalidRequestException($"{path}.contents",
                        $"{path} holds {content.GetType().Name}, which this model cannot read: it takes text, reasoning, function calls and function results", "unsupported_value");
            }
        }

        if (message.Role == AIChatRole.System) return [MimoChatMessage.System(text.ToString())];
        if (message.Role == AIChatRole.User) return results.Count > 0 && text.Length == 0 ? results : [MimoChatMessage.User(text.ToString())];
        if (message.Role == AIChatRole.Tool) return results.Count > 0 ? results : [MimoChatMessage.Tool(text.ToString())];
        if (message.Role == AIChatRole.Assistant)
            return [MimoChatMessage.Assistant(text.ToString(), sawReasoning ? reasoning.ToString() : null, calls.ToArray())];
        throw new InvalidRequestException($"{path}.role", $"{path}.role '{message.Role}' is not one of system, user, assistant, tool", "invalid_value");
    }

    private static IReadOnlyList<ToolDefinition> Tools(ChatOptions? options)
    {
        if (options?.Tools is not { Count: > 0 } tools || options.ToolMode is NoneChatToolMode) return [];
        if (options.ToolMode is RequiredChatToolMode)
            throw new InvalidRequestException("tool_choice", "requiring a tool call is not supported: use auto or none", "unsupported_value");
        var list = new List<ToolDefinition>();
        foreach (var tool in tools)
            if (tool is AIFunctionDeclaration function)
                list.Add(new ToolDefinition(function.Name, function.Description, function.JsonSchema));
        return list;
    }

    // ChatOptions.Reasoning is the portable switch; "enable_thinking" in AdditionalProperties mirrors chat_template_kwargs.
    private static bool Thinking(ChatOptions? options)
    {
        if (options?.Reasoning?.Effort is { } effort) return effort != ReasoningEffort.None;
        return Flag(options, "enable_thinking") ?? false;
    }

    /// <summary>A boolean from ChatOptions.AdditionalProperties (the HTTP API's extra fields, e.g. ignore_eos).</summary>
    private static bool? Flag(ChatOptions? options, string name)
    {
        if (options?.AdditionalProperties?.TryGetValue(name, out object? value) != true) return null;
        return value switch
        {
            bool b => b,
            JsonElement { ValueKind: JsonValueKind.True } => true,
            JsonElement { ValueKind: JsonValueKind.False } => false,
            _ => throw new InvalidRequestException(name, $"{name} must be a boolean, got {value?.GetType().Name ?? "null"}", "invalid_type"),
        };
    }
}

using System.Globalization;
using System.Text;
using System.Text.Json;

namespace MimoSharp.Text;

/// <summary>
/// Renders a conversation into MiMo-V2-Flash's prompt text.
/// <para>
/// Provenance: the official chat_template of XiaomiMiMo/MiMo-V2-Flash was not available to us, so this is a
/// reconstruction, not a byte-for-byte copy. It follows what is documented: Qwen3's ChatML framing
/// (<c>&lt;|im_start|&gt;role\n…&lt;|im_end|&gt;\n</c>), Qwen3's thinking switch (<c>&lt;think&gt;…&lt;/think&gt;</c>; with
/// thinking off the generation prompt carries an empty think block), Qwen3's rule of keeping reasoning only for
/// assistant turns after the last user query (so reasoning persists through a multi-turn tool chain, as the
/// model card asks), and the XML tool-call format SGLang's "mimo" parser reads, which is Qwen3-Coder's:
/// tool definitions as <c>&lt;tools&gt;&lt;function&gt;…</c> in the system turn and calls as
/// <c>&lt;tool_call&gt;&lt;function=NAME&gt;&lt;parameter=ARG&gt;value&lt;/parameter&gt;&lt;/function&gt;&lt;/tool_call&gt;</c>;
/// tool results go in a user turn as <c>&lt;tool_response&gt;</c> blocks. If the official template is found,
/// replace the text here and pin it with a byte-for-byte test.
/// </para>
/// </summary>
public static class ChatTemplate
{
    /// <summary>
    /// Renders <paramref name="messages"/>. A leading system message becomes the system turn; otherwise
    /// <paramref name="defaultSystemPrompt"/> is used when given (see <see cref="RecommendedSystemPrompt"/>).
    /// <paramref name="enableThinking"/> is off by default, as in MiMo's serving examples.
    /// </summary>
    public static string Render(
        IReadOnlyList<ChatMessage> messages,
        IReadOnlyList<ToolDefinition>? tools = null,
        bool enableThinking = false,
        bool addGenerationPrompt = true,
        string? defaultSystemPrompt = null)
    {
        ArgumentNullException.ThrowIfNull(messages);
        tools ??= [];
        var sb = new StringBuilder();

        int first = 0;
        string? system = defaultSystemPrompt;
        if (messages.Count > 0 && messages[0].Role == ChatRole.System)
        {
            system = messages[0].Content;
            first = 1;
        }
        if (system is not null || tools.Count > 0)
        {
            sb.Append("<|im_start|>system\n").Append(system ?? "");
            if (tools.Count > 0) AppendToolDefinitions(sb, tools, leadingBreak: system is not null);
            sb.Append("<|im_end|>\n");
        }

        int lastQuery = -1;
        for (int i = messages.Count - 1; i >= first; i--)
        {
            if (messages[i].Role == ChatRole.User) { lastQuery = i; break; }
        }

        for (int i = first; i < messages.Count; i++)
        {
            ChatMessage message = messages[i];
            switch (message.Role)
            {
                case ChatRole.System:
                case ChatRole.User:
                    sb.Append("<|im_start|>").Append(RoleName(message.Role)).Append('\n')
                      .Append(message.Content).Append("<|im_end|>\n");
                    break;
                case ChatRole.Assistant:
                    AppendAssistant(sb, message, keepReasoning: i > lastQuery, isLast: i == messages.Count - 1);
                    break;
                case ChatRole.Tool:
                    if (i == first || messages[i - 1].Role != ChatRole.Tool) sb.Append("<|im_start|>user\n");
                    sb.Append("<tool_response>\n").Append(message.Content).Append("\n</tool_response>\n");
                    if (i == messages.Count - 1 || messages[i + 1].Role != ChatRole.Tool) sb.Append("<|im_end|>\n");
                    break;
            }
        }

        if (addGenerationPrompt)
        {
            sb.Append("<|im_start|>assistant\n");
            if (!enableThinking) sb.Append("<think>\n\n</think>\n\n");
        }
        return sb.ToString();
    }

    /// <summary>
    /// The system prompt the MiMo-V2-Flash model card "HIGHLY" recommends (English or Chinese), with the date
    /// filled in as yyyy-MM-dd and the weekday.
    /// </summary>
    public static string RecommendedSystemPrompt(DateOnly today, bool chinese = false)
    {
        string date = today.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture);
        if (chinese)
        {
            string week = "星期" + "日一二三四五六"[(int)today.DayOfWeek];
            return $"你是MiMo（中文名称也是MiMo），是小米公司研发的AI智能助手。\n\n今天的日期：{date} {week}，你的知识截止日期是2024年12月。";
        }
        return $"You are MiMo, an AI assistant developed by Xiaomi.\n\nToday's date: {date} {today.DayOfWeek}. Your knowledge cutoff date is December 2024.";
    }

    private static string RoleName(ChatRole role) => role switch
    {
        ChatRole.System => "system",
        ChatRole.User => "user",
        ChatRole.Assistant => "assistant",
        _ => "tool",
    };

    private static void AppendAssistant(StringBuilder sb, ChatMessage message, bool keepReasoning, bool isLast)
    {
        string content = message.Content ?? "";
        string? reasoning = message.ReasoningContent;
        if (reasoning is null)
        {
            // Older turns may still hold their "<think>…</think>" inline: split it out as Qwen3 does.
            int close = content.LastIndexOf("</think>", StringComparison.Ordinal);
            if (close >= 0)
            {
                string before = content[..close];
                int open = before.LastIndexOf("<think>", StringComparison.Ordinal);
                reasoning = (open >= 0 ? before[(open + "<think>".Length)..] : before).Trim('\n');
                content = content[(close + "</think>".Length)..].TrimStart('\n');
            }
        }

        sb.Append("<|im_start|>assistant\n");
        if (keepReasoning && (isLast || !string.IsNullOrEmpty(reasoning)))
            sb.Append("<think>\n").Append((reasoning ?? "").Trim('\n')).Append("\n</think>\n\n");
        string text = content.TrimStart('\n');
        if (message.ToolCalls.Count > 0) text = text.TrimEnd();
        sb.Append(text);
        for (int i = 0; i < message.ToolCalls.Count; i++)
        {
            if (i > 0 || text.Length > 0) sb.Append('\n');
            AppendToolCall(sb, message.ToolCalls[i]);
        }
        sb.Append("<|im_end|>\n");
    }

    private static void AppendToolCall(StringBuilder sb, ToolCall call)
    {
        sb.Append("<tool_call>\n<function=").Append(call.Name).Append(">\n");
        using JsonDocument args = ParseArguments(call);
        if (args.RootElement.ValueKind == JsonValueKind.Object)
        {
            foreach (JsonProperty p in args.RootElement.EnumerateObject())
            {
                sb.Append("<parameter=").Append(p.Name).Append(">\n");
                // Strings go in raw; everything else as JSON, as the Qwen3-Coder template does.
                sb.Append(p.Value.ValueKind == JsonValueKind.String ? p.Value.GetString() : PythonJson.Serialize(p.Value));
                sb.Append("\n</parameter>\n");
            }
        }
        sb.Append("</function>\n</tool_call>");
    }

    private static JsonDocument ParseArguments(ToolCall call)
    {
        try
        {
            return JsonDocument.Parse(string.IsNullOrWhiteSpace(call.ArgumentsJson) ? "{}" : call.ArgumentsJson);
        }
        catch (JsonException e)
        {
            throw new ArgumentException($"Tool call '{call.Name}' has arguments that are not JSON: {call.ArgumentsJson}", e);
        }
    }

    private static void AppendToolDefinitions(StringBuilder sb, IReadOnlyList<ToolDefinition> tools, bool leadingBreak)
    {
        if (leadingBreak) sb.Append("\n\n");
        sb.Append("# Tools\n\nYou have access to the following functions:\n\n<tools>");
        foreach (ToolDefinition tool in tools)
        {
            sb.Append("\n<function>\n<name>").Append(tool.Name).Append("</name>");
            if (tool.Description is not null) sb.Append("\n<description>").Append(tool.Description.Trim()).Append("</description>");
            sb.Append("\n<parameters>");
            if (tool.Parameters is { } schema)
            {
                if (schema.TryGetProperty("properties", out JsonElement props) && props.ValueKind == JsonValueKind.Object)
                {
                    foreach (JsonProperty param in props.EnumerateObject())
                    {
                        sb.Append("\n<parameter>\n<name>").Append(param.Name).Append("</name>");
                        if (param.Value.ValueKind == JsonValueKind.Object)
                        {
                            if (param.Value.TryGetProperty("type", out JsonElement type))
                                sb.Append("\n<type>").Append(PythonJson.AsString(type)).Append("</type>");
                            if (param.Value.TryGetProperty("description", out JsonElement desc) && desc.ValueKind == JsonValueKind.String)
                                sb.Append("\n<description>").Append(desc.GetString()!.Trim()).Append("</description>");
                            AppendExtraKeys(sb, param.Value, "name", "type", "description");
                        }
                        sb.Append("\n</parameter>");
                    }
                }
                AppendExtraKeys(sb, schema, "type", "properties");
            }
            sb.Append("\n</parameters>\n</function>");
        }
        sb.Append("\n</tools>");
        sb.Append("\n\nIf you choose to call a function ONLY reply in the following format with NO suffix:\n\n"
            + "<tool_call>\n<function=example_function_name>\n<parameter=example_parameter_1>\nvalue_1\n</parameter>\n"
            + "<parameter=example_parameter_2>\nThis is the value for the second parameter\nthat can span\nmultiple lines\n"
            + "</parameter>\n</function>\n</tool_call>\n\n<IMPORTANT>\nReminder:\n"
            + "- Function calls MUST follow the specified format: an inner <function=...></function> block must be nested within <tool_call></tool_call> XML tags\n"
            + "- Required parameters MUST be specified\n"
            + "- You may provide optional reasoning for your function call in natural language BEFORE the function call, but NOT after\n"
            + "- If there is no function call available, answer the question like normal with your current knowledge and do not tell the user about function calls\n"
            + "</IMPORTANT>");
    }

    private static void AppendExtraKeys(StringBuilder sb, JsonElement obj, params string[] handled)
    {
        foreach (JsonProperty p in obj.EnumerateObject())
        {
            if (Array.IndexOf(handled, p.Name) >= 0) continue;
            string value = p.Value.ValueKind is JsonValueKind.Object or JsonValueKind.Array
                ? PythonJson.Serialize(p.Value) : PythonJson.AsString(p.Value);
            sb.Append("\n<").Append(p.Name).Append('>').Append(value).Append("</").Append(p.Name).Append('>');
        }
    }
}

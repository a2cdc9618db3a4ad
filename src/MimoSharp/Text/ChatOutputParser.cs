using System.Globalization;
using System.Text;
using System.Text.Json;

namespace MimoSharp.Text;

/// <summary>What one chunk of generated text added: reasoning, visible content, and tool calls completed.</summary>
public sealed record ChatOutputDelta(string Reasoning, string Content, IReadOnlyList<ToolCall> ToolCalls)
{
    public bool IsEmpty => Reasoning.Length == 0 && Content.Length == 0 && ToolCalls.Count == 0;
}

/// <summary>A whole response split into OpenAI's reasoning_content, content and tool_calls.</summary>
public sealed record ParsedChatOutput(string? ReasoningContent, string Content, IReadOnlyList<ToolCall> ToolCalls);

/// <summary>
/// Splits MiMo's generated text, as it streams, into reasoning (<c>&lt;think&gt;…&lt;/think&gt;</c>), content and
/// tool calls (<c>&lt;tool_call&gt;&lt;function=NAME&gt;&lt;parameter=ARG&gt;value&lt;/parameter&gt;…&lt;/function&gt;&lt;/tool_call&gt;</c>,
/// the format of SGLang's "mimo" parser; a Qwen-style JSON body is accepted too). Text that might be the
/// start of a tag is held back until it is decided, so deltas concatenate to the final result. Nothing here
/// throws on malformed output: a tool call that cannot be parsed, or is never closed, stays content.
/// A tool call is reported once its closing tag arrives. Not thread-safe; one per response.
/// </summary>
public sealed class ChatOutputParser
{
    private const string ThinkOpen = "<think>", ThinkClose = "</think>";
    private const string CallOpen = "<tool_call>", CallClose = "</tool_call>";

    private enum State { Start, Reasoning, Content, ToolCall }

    private readonly IReadOnlyList<ToolDefinition> _tools;
    private readonly StringBuilder _reasoning = new(), _content = new();
    private readonly List<ToolCall> _toolCalls = [];
    private State _state;
    private string _pending = "";
    private bool _sawReasoning, _reasoningStarted, _contentAtStart = true, _afterToolCall;

    /// <param name="tools">The tools offered, whose schemas type the parameter values; none means all strings.</param>
    /// <param name="startInReasoning">True when the prompt already opened &lt;think&gt; (the model then starts mid-reasoning).</param>
    public ChatOutputParser(IReadOnlyList<ToolDefinition>? tools = null, bool startInReasoning = false)
    {
        _tools = tools ?? [];
        _state = startInReasoning ? State.Reasoning : State.Start;
        _sawReasoning = startInReasoning;
    }

    /// <summary>All reasoning so far, or null when the response had no reasoning section.</summary>
    public string? ReasoningContent => _sawReasoning ? _reasoning.ToString() : null;
    public string Content => _content.ToString();
    public IReadOnlyList<ToolCall> ToolCalls => _toolCalls;

    /// <summary>Parses a complete response.</summary>
    public static ParsedChatOutput Parse(string text, IReadOnlyList<ToolDefinition>? tools = null, bool startInReasoning = false)
    {
        var parser = new ChatOutputParser(tools, startInReasoning);
        parser.Push(text);
        parser.Finish();
        return new ParsedChatOutput(parser.ReasoningContent, parser.Content, parser.ToolCalls.ToArray());
    }

    /// <summary>Feeds the next piece of generated text.</summary>
    public ChatOutputDelta Push(string text)
    {
        _pending += text ?? "";
        return Run(final: false);
    }

    /// <summary>Ends the response, releasing any held-back text.</summary>
    public ChatOutputDelta Finish() => Run(final: true);

    private ChatOutputDelta Run(bool final)
    {
        int reasoningMark = _reasoning.Length, contentMark = _content.Length, callMark = _toolCalls.Count;
        while (Step(final)) { }
        return new ChatOutputDelta(
            _reasoning.ToString(reasoningMark, _reasoning.Length - reasoningMark),
            _content.ToString(contentMark, _content.Length - contentMark),
            _toolCalls.Skip(callMark).ToArray());
    }

    // One transition; false when more input is needed (or everything is consumed).
    private bool Step(bool final)
    {
        switch (_state)
        {
            case State.Start:
                {
                    string s = _pending.TrimStart();
                    if (s.StartsWith(ThinkOpen, StringComparison.Ordinal))
                    {
                        _pending = s[ThinkOpen.Length..];
                        _state = State.Reasoning;
                        _sawReasoning = true;
                        return true;
                    }
                    if (!final && ThinkOpen.StartsWith(s, StringComparison.Ordinal)) return false;
                    _state = State.Content;
                    return true;
                }
            case State.Reasoning:
                {
                    int close = _pending.IndexOf(ThinkClose, StringComparison.Ordinal);
                    if (close >= 0)
                    {
                        AppendReasoning(_pending[..close].TrimEnd('\n'));
                        _pending = _pending[(close + ThinkClose.Length)..];
                        _state = State.Content;
                        _contentAtStart = true;
                        return true;
                    }
                    // Hold a possible "</think>" prefix and trailing newlines (trimmed if the reasoning ends there).
                    int end = _pending.Length - (final ? 0 : PartialSuffix(_pending, ThinkClose));
                    while (end > 0 && _pending[end - 1] == '\n') end--;
                    AppendReasoning(_pending[..end]);
                    _pending = final ? "" : _pending[end..];
                    return false;
                }
            case State.Content:
                {
                    if (_contentAtStart)
                    {
                        _pending = _pending.TrimStart('\n');
                        if (_pending.Length == 0) return false;
                        _contentAtStart = false;
                    }
                    int open = _pending.IndexOf(CallOpen, StringComparison.Ordinal);
                    if (open >= 0)
                    {
                        AppendContent(_pending[..open], droppable: true);
                        _pending = _pending[(open + CallOpen.Length)..];
                        _state = State.ToolCall;
                        return true;
                    }
                    int end = _pending.Length - (final ? 0 : PartialSuffix(_pending, CallOpen));
                    string ready = _pending[..end];
                    // Whitespace between or after tool calls is layout, not content, unless real text follows.
                    if (_afterToolCall && string.IsNullOrWhiteSpace(ready))
                    {
                        if (final) _pending = "";
                        return false;
                    }
                    AppendContent(ready, droppable: false);
                    _pending = _pending[end..];
                    return false;
                }
            default:
                {
                    int close = _pending.IndexOf(CallClose, StringComparison.Ordinal);
                    if (close < 0)
                    {
                        if (final)
                        {
                            AppendContent(CallOpen + _pending, droppable: false);
                            _pending = "";
                        }
                        return false;
                    }
                    string inner = _pending[..close];
                    _pending = _pending[(close + CallClose.Length)..];
                    _state = State.Content;
                    if (TryParseToolCall(inner, out ToolCall? call))
                    {
                        _toolCalls.Add(call);
                        _afterToolCall = true;
                    }
                    else
                    {
                        AppendContent(CallOpen + inner + CallClose, droppable: false);
                    }
                    return true;
                }
        }
    }

    private void AppendReasoning(string text)
    {
        if (!_reasoningStarted)
        {
            text = text.TrimStart('\n');
            if (text.Length == 0) return;
            _reasoningStarted = true;
        }
        _reasoning.Append(text);
    }

    private void AppendContent(string text, bool droppable)
    {
        if (text.Length == 0) return;
        if (droppable && _afterToolCall && string.IsNullOrWhiteSpace(text)) return;
        _content.Append(text);
        _afterToolCall = false;
    }

    private static int PartialSuffix(string text, string tag)
    {
        for (int k = Math.Min(tag.Length - 1, text.Length); k > 0; k--)
        {
            if (text.AsSpan(text.Length - k).SequenceEqual(tag.AsSpan(0, k))) return k;
        }
        return 0;
    }

    /// <summary>Parses the inside of one &lt;tool_call&gt; block; false when it is not a well-formed call.</summary>
    public bool TryParseToolCall(string inner, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out ToolCall? call)
    {
        call = null;
        string s = inner.Trim();
        if (s.StartsWith('{')) return TryParseJsonToolCall(s, out call);

        const string FunctionOpen = "<function=", FunctionClose = "</function>";
        const string ParamOpen = "<parameter=", ParamClose = "</parameter>";
        if (!s.StartsWith(FunctionOpen, StringComparison.Ordinal)) return false;
        int nameEnd = s.IndexOf('>');
        if (nameEnd < 0) return false;
        string name = s[FunctionOpen.Length..nameEnd].Trim();
        int functionEnd = s.LastIndexOf(FunctionClose, StringComparison.Ordinal);
        if (name.Length == 0 || name.AsSpan().IndexOfAny('<', '\n') >= 0 || functionEnd < nameEnd
            || !string.IsNullOrWhiteSpace(s[(functionEnd + FunctionClose.Length)..]))
            return false;

        string body = s[(nameEnd + 1)..functionEnd];
        var arguments = new List<KeyValuePair<string, string>>();
        int pos = 0;
        while (true)
        {
            while (pos < body.Length && char.IsWhiteSpace(body[pos])) pos++;
            if (pos == body.Length) break;
            if (string.CompareOrdinal(body, pos, ParamOpen, 0, ParamOpen.Length) != 0) return false;
            int paramNameEnd = body.IndexOf('>', pos);
            if (paramNameEnd < 0) return false;
            string paramName = body[(pos + ParamOpen.Length)..paramNameEnd].Trim();
            if (paramName.Length == 0 || paramName.Contains('<') || paramName.Contains('\n')) return false;
            int valueStart = paramNameEnd + 1;
            int valueEnd = body.IndexOf(ParamClose, valueStart, StringComparison.Ordinal);
            int next;
            if (valueEnd >= 0)
            {
                next = valueEnd + ParamClose.Length;
            }
            else
            {
                // Tolerate a missing </parameter>: the value runs to the next parameter or the end.
                valueEnd = body.IndexOf(ParamOpen, valueStart, StringComparison.Ordinal);
                if (valueEnd < 0) valueEnd = body.Length;
                next = valueEnd;
            }
            string value = body[valueStart..valueEnd];
            // The format puts the value on its own lines: drop exactly one framing newline each side.
            if (value.StartsWith('\n')) value = value[1..];
            if (value.EndsWith('\n')) value = value[..^1];
            arguments.RemoveAll(a => a.Key == paramName);
            arguments.Add(new(paramName, value));
            pos = next;
        }

        ToolDefinition? tool = _tools.FirstOrDefault(t => t.Name == name);
        call = new ToolCall(name, ArgumentsJson(arguments, tool));
        return true;
    }

    private static bool TryParseJsonToolCall(string json, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out ToolCall? call)
    {
        call = null;
        try
        {
            using JsonDocument doc = JsonDocument.Parse(json);
            JsonElement root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty("name", out JsonElement name)
                || name.ValueKind != JsonValueKind.String)
                return false;
            string args = root.TryGetProperty("arguments", out JsonElement a)
                ? a.ValueKind == JsonValueKind.String ? a.GetString()! : a.GetRawText()
                : "{}";
            call = new ToolCall(name.GetString()!, args);
            return true;
        }
        catch (JsonException)
        {
            return false;
        }
    }

    // Values arrive as text; the tool's schema says which ones are numbers, booleans, objects or arrays.
    // Anything that does not convert cleanly stays a string rather than failing the call.
    private static string ArgumentsJson(List<KeyValuePair<string, string>> arguments, ToolDefinition? tool)
    {
        using var stream = new MemoryStream();
        using (var writer = new Utf8JsonWriter(stream, new JsonWriterOptions { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            writer.WriteStartObject();
            foreach (var (name, value) in arguments)
            {
                writer.WritePropertyName(name);
                WriteTyped(writer, value, tool?.ParameterType(name));
            }
            writer.WriteEndObject();
        }
        return Encoding.UTF8.GetString(stream.ToArray());
    }

    private static void WriteTyped(Utf8JsonWriter writer, string value, string? type)
    {
        string trimmed = value.Trim();
        switch (type)
        {
            case "integer" when long.TryParse(trimmed, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out long l):
                writer.WriteNumberValue(l);
                return;
            case "number" when double.TryParse(trimmed, NumberStyles.Float, CultureInfo.InvariantCulture, out double d) && double.IsFinite(d):
                if (long.TryParse(trimmed, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out long whole)) writer.WriteNumberValue(whole);
                else writer.WriteNumberValue(d);
                return;
            case "boolean" when trimmed.Equals("true", StringComparison.OrdinalIgnoreCase) || trimmed.Equals("false", StringComparison.OrdinalIgnoreCase):
                writer.WriteBooleanValue(trimmed.Equals("true", StringComparison.OrdinalIgnoreCase));
                return;
            case "object" or "array":
                try
                {
                    using JsonDocument doc = JsonDocument.Parse(trimmed);
                    if (doc.RootElement.ValueKind == (type == "object" ? JsonValueKind.Object : JsonValueKind.Array))
                    {
                        doc.RootElement.WriteTo(writer);
                        return;
                    }
                }
                catch (JsonException)
                {
                }
                break;
        }
        writer.WriteStringValue(value);
    }
}

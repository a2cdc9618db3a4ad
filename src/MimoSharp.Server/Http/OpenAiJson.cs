using System.Buffers;
using System.Text.Encodings.Web;
using System.Text.Json;
using MimoSharp.Server.Engine;
using MimoSharp.Text;

namespace MimoSharp.Server.Http;

/// <summary>
/// The JSON bodies of OpenAI's API as this server writes them: chat completions and their stream chunks,
/// text completions, the model list and errors. MiMo's reasoning goes in "reasoning_content" (the field
/// vLLM and SGLang use); tool calls in "tool_calls" with their arguments as a JSON text.
/// </summary>
internal static class OpenAiJson
{
    private static readonly JsonWriterOptions Options = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    /// <summary>Identity of one response, shared by all its chunks.</summary>
    public sealed record ResponseId(string Id, long Created, string Model)
    {
        public static ResponseId New(string prefix, string model) =>
            new($"{prefix}-{Guid.NewGuid():N}", DateTimeOffset.UtcNow.ToUnixTimeSeconds(), model);
    }

    public static byte[] Write(Action<Utf8JsonWriter> body)
    {
        var buffer = new ArrayBufferWriter<byte>(256);
        using (var writer = new Utf8JsonWriter(buffer, Options)) body(writer);
        return buffer.WrittenSpan.ToArray();
    }

    public static byte[] Error(string message, string type, string? param, string? code) => Write(w =>
    {
        w.WriteStartObject();
        w.WriteStartObject("error");
        w.WriteString("message", message);
        w.WriteString("type", type);
        if (param is null) w.WriteNull("param"); else w.WriteString("param", param);
        if (code is null) w.WriteNull("code"); else w.WriteString("code", code);
        w.WriteEndObject();
        w.WriteEndObject();
    });

    public static byte[] ChatCompletion(ResponseId id, ChatGeneration generation) => Write(w =>
    {
        Header(w, id, "chat.completion");
        w.WriteStartArray("choices");
        w.WriteStartObject();
        w.WriteNumber("index", 0);
        w.WriteStartObject("message");
        w.WriteString("role", "assistant");
        // OpenAI sends null content beside tool calls when there is no text.
        if (generation.Content.Length == 0 && generation.ToolCalls.Count > 0) w.WriteNull("content");
        else w.WriteString("content", generation.Content);
        if (generation.ReasoningContent is { } reasoning) w.WriteString("reasoning_content", reasoning);
        if (generation.ToolCalls.Count > 0) ToolCalls(w, generation.ToolCalls, 0, id);
        w.WriteEndObject();
        w.WriteNull("logprobs");
        w.WriteString("finish_reason", generation.FinishReason);
        w.WriteEndObject();
        w.WriteEndArray();
        Usage(w, generation.Text);
        w.WriteEndObject();
    });

    /// <summary>One chat.completion.chunk; <paramref name="firstToolIndex"/> numbers its tool calls within the response.</summary>
    public static byte[] ChatChunk(ResponseId id, ChatOutputDelta? delta, string? finishReason, bool role = false, int firstToolIndex = 0) => Write(w =>
    {
        Header(w, id, "chat.completion.chunk");
        w.WriteStartArray("choices");
        w.WriteStartObject();
        w.WriteNumber("index", 0);
        w.WriteStartObject("delta");
        if (role)
        {
            w.WriteString("role", "assistant");
            w.WriteString("content", "");
        }
        if (delta is not null)
        {
            if (delta.Reasoning.Length > 0) w.WriteString("reasoning_content", delta.Reasoning);
            if (delta.Content.Length > 0) w.WriteString("content", delta.Content);
            if (delta.ToolCalls.Count > 0) ToolCalls(w, delta.ToolCalls, firstToolIndex, id);
        }
        w.WriteEndObject();
        w.WriteNull("logprobs");
        if (finishReason is null) w.WriteNull("finish_reason"); else w.WriteString("finish_reason", finishReason);
        w.WriteEndObject();
        w.WriteEndArray();
        w.WriteEndObject();
    });

    /// <summary>The last chunk of a stream that asked for stream_options.include_usage: no choices, only usage.</summary>
    public static byte[] UsageChunk(ResponseId id, string objectName, TextGeneration text) => Write(w =>
    {
        Header(w, id, objectName);
        w.WriteStartArray("choices");
        w.WriteEndArray();
        Usage(w, text);
        w.WriteEndObject();
    });

    public static byte[] TextCompletion(ResponseId id, string text, TextGeneration generation, bool usage = true) => Write(w =>
    {
        Header(w, id, "text_completion");
        w.WriteStartArray("choices");
        w.WriteStartObject();
        w.WriteString("text", text);
        w.WriteNumber("index", 0);
        w.WriteNull("logprobs");
        if (generation.FinishReason is { } reason) w.WriteString("finish_reason", reason); else w.WriteNull("finish_reason");
        w.WriteEndObject();
        w.WriteEndArray();
        if (usage) Usage(w, generation);
        w.WriteEndObject();
    });

    public static byte[] TextChunk(ResponseId id, string text, string? finishReason) => Write(w =>
    {
        Header(w, id, "text_completion");
        w.WriteStartArray("choices");
        w.WriteStartObject();
        w.WriteString("text", text);
        w.WriteNumber("index", 0);
        w.WriteNull("logprobs");
        if (finishReason is null) w.WriteNull("finish_reason"); else w.WriteString("finish_reason", finishReason);
        w.WriteEndObject();
        w.WriteEndArray();
        w.WriteEndObject();
    });

    public static byte[] Models(MimoEngine engine) => Write(w =>
    {
        w.WriteStartObject();
        w.WriteString("object", "list");
        w.WriteStartArray("data");
        Model(w, engine);
        w.WriteEndArray();
        w.WriteEndObject();
    });

    public static byte[] Model(MimoEngine engine) => Write(w => Model(w, engine));

    private static void Model(Utf8JsonWriter w, MimoEngine engine)
    {
        w.WriteStartObject();
        w.WriteString("id", engine.ModelId);
        w.WriteString("object", "model");
        w.WriteNumber("created", engine.Created.ToUnixTimeSeconds());
        w.WriteString("owned_by", "mimosharp");
        w.WriteNumber("max_model_len", engine.ContextLength);
        w.WriteEndObject();
    }

    private static void Header(Utf8JsonWriter w, ResponseId id, string objectName)
    {
        w.WriteStartObject();
        w.WriteString("id", id.Id);
        w.WriteString("object", objectName);
        w.WriteNumber("created", id.Created);
        w.WriteString("model", id.Model);
    }

    private static void ToolCalls(Utf8JsonWriter w, IReadOnlyList<ToolCall> calls, int firstIndex, ResponseId id)
    {
        w.WriteStartArray("tool_calls");
        for (int i = 0; i < calls.Count; i++)
        {
            w.WriteStartObject();
            w.WriteNumber("index", firstIndex + i);
            w.WriteString("id", $"call_{id.Id[^12..]}_{firstIndex + i}");
            w.WriteString("type", "function");
            w.WriteStartObject("function");
            w.WriteString("name", calls[i].Name);
            w.WriteString("arguments", calls[i].ArgumentsJson);
            w.WriteEndObject();
            w.WriteEndObject();
        }
        w.WriteEndArray();
    }

    private static void Usage(Utf8JsonWriter w, TextGeneration text)
    {
        w.WriteStartObject("usage");
        w.WriteNumber("prompt_tokens", text.PromptTokens);
        w.WriteNumber("completion_tokens", text.CompletionTokens);
        w.WriteNumber("total_tokens", text.PromptTokens + text.CompletionTokens);
        // Our extension (clients ignore unknown fields): what the chat page shows under each answer.
        var timings = text.Timings;
        w.WriteStartObject("mimo");
        w.WriteNumber("time_to_first_token_ms", Math.Round(timings.TimeToFirstTokenMs, 2));
        w.WriteNumber("tokens_per_second", Math.Round(timings.TokensPerSecond, 2));
        w.WriteNumber("decode_steps", timings.DecodeSteps);
        w.WriteNumber("acceptance_length", Math.Round(timings.AcceptanceLength, 3));
        w.WriteNumber("draft_depth", timings.DraftDepth);
        w.WriteEndObject();
        w.WriteEndObject();
    }
}

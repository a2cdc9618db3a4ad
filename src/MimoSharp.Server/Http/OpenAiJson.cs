using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using MimoSharp.Server.Engine;
using MimoSharp.Server.Http.Contracts;
using MimoSharp.Text;

namespace MimoSharp.Server.Http;

/// <summary>
/// The JSON bodies of OpenAI's API as this server writes them: chat completions and their stream chunks,
/// text completions, the model list, health and errors. MiMo's reasoning goes in "reasoning_content" (the field
/// vLLM and SGLang use); tool calls in "tool_calls" with their arguments as a JSON text.
/// </summary>
internal static class OpenAiJson
{
    private static OpenAiJsonContext Json => OpenAiJsonContext.Relaxed;

    /// <summary>Identity of one response, shared by all its chunks.</summary>
    public sealed record ResponseId(string Id, long Created, string Model)
    {
        public static ResponseId New(string prefix, string model) =>
            new($"{prefix}-{Guid.NewGuid():N}", DateTimeOffset.UtcNow.ToUnixTimeSeconds(), model);
    }

    public static byte[] Error(string message, string type, string? param, string? code) =>
        Write(new ErrorBody(new ErrorDetailBody(message, type, param, code)), Json.ErrorBody);

    public static byte[] ChatCompletion(ResponseId id, ChatGeneration generation)
    {
        // OpenAI sends null content beside tool calls when there is no text.
        string? content = generation.Content.Length == 0 && generation.ToolCalls.Count > 0 ? null : generation.Content;
        var message = new ChatMessageBody("assistant", content, generation.ReasoningContent, ToolCalls(generation.ToolCalls, 0, id));
        return Write(Body(id, "chat.completion", new ChatChoiceBody(0, message, generation.FinishReason), Usage(generation.Text)),
            Json.CompletionBodyChatChoiceBody);
    }

    /// <summary>One chat.completion.chunk; <paramref name="firstToolIndex"/> numbers its tool calls within the response.</summary>
    public static byte[] ChatChunk(ResponseId id, ChatOutputDelta? delta, string? finishReason, bool role = false, int firstToolIndex = 0)
    {
        var body = role ? new DeltaBody(Role: "assistant", Content: "")
            : delta is null ? new DeltaBody()
            : new DeltaBody(
                ReasoningContent: delta.Reasoning.Length > 0 ? delta.Reasoning : null,
                Content: delta.Content.Length > 0 ? delta.Content : null,
                ToolCalls: ToolCalls(delta.ToolCalls, firstToolIndex, id));
        return Write(Body(id, "chat.completion.chunk", new ChunkChoiceBody(0, body, finishReason)), Json.CompletionBodyChunkChoiceBody);
    }

    /// <summary>The last chunk of a stream that asked for stream_options.include_usage: no choices, only usage.</summary>
    public static byte[] UsageChunk(ResponseId id, string objectName, TextGeneration text) =>
        Write(new CompletionBody<TextChoiceBody>(id.Id, objectName, id.Created, id.Model, [], Usage(text)), Json.CompletionBodyTextChoiceBody);

    public static byte[] TextCompletion(ResponseId id, string text, TextGeneration generation) =>
        Write(Body(id, "text_completion", new TextChoiceBody(text, 0, generation.FinishReason), Usage(generation)), Json.CompletionBodyTextChoiceBody);

    public static byte[] TextChunk(ResponseId id, string text, string? finishReason) =>
        Write(Body(id, "text_completion", new TextChoiceBody(text, 0, finishReason)), Json.CompletionBodyTextChoiceBody);

    public static byte[] Models(MimoEngine engine) => Write(new ModelListBody("list", [ModelCard(engine)]), Json.ModelListBody);

    public static byte[] Model(MimoEngine engine) => Write(ModelCard(engine), Json.ModelBody);

    public static byte[] Health(MimoEngine engine) =>
        Write(new HealthBody("ok", engine.ModelId, engine.Metrics.RunningSequences, engine.Metrics.QueuedRequests), Json.HealthBody);

    private static byte[] Write<T>(T body, JsonTypeInfo<T> contract) => JsonSerializer.SerializeToUtf8Bytes(body, contract);

    private static CompletionBody<TChoice> Body<TChoice>(ResponseId id, string objectName, TChoice choice, UsageBody? usage = null) =>
        new(id.Id, objectName, id.Created, id.Model, [choice], usage);

    private static ModelBody ModelCard(MimoEngine engine) =>
        new(engine.ModelId, "model", engine.Created.ToUnixTimeSeconds(), "mimosharp", engine.ContextLength);

    private static ToolCallBody[]? ToolCalls(IReadOnlyList<ToolCall> calls, int firstIndex, ResponseId id)
    {
        if (calls.Count == 0) return null;
        var bodies = new ToolCallBody[calls.Count];
        for (int i = 0; i < calls.Count; i++)
            bodies[i] = new ToolCallBody(firstIndex + i, $"call_{id.Id[^12..]}_{firstIndex + i}", "function",
                new FunctionCallBody(calls[i].Name, calls[i].ArgumentsJson));
        return bodies;
    }

    private static UsageBody Usage(TextGeneration text)
    {
        var timings = text.Timings;
        return new UsageBody(text.PromptTokens, text.CompletionTokens, text.PromptTokens + text.CompletionTokens, new MimoUsageBody(
            Math.Round(timings.TimeToFirstTokenMs, 2), Math.Round(timings.TokensPerSecond, 2), timings.DecodeSteps,
            Math.Round(timings.AcceptanceLength, 3), timings.DraftDepth));
    }
}

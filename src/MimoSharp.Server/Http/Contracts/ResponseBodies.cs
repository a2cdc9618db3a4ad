using System.Text.Json.Serialization;

namespace MimoSharp.Server.Http.Contracts;

// The JSON bodies this server writes, in OpenAI's shapes and field order (finish_reason last in a choice). Absent
// (null) fields are left out unless marked [JsonIgnore(Condition = Never)]: OpenAI writes those as explicit nulls,
// and some clients look for them.

/// <summary>
/// A chat.completion, chat.completion.chunk or text_completion: the header every response and chunk shares, its
/// choices, and usage (in a whole response, or in the last chunk of a stream that asked for it).
/// </summary>
internal sealed record CompletionBody<TChoice>(string Id, string Object, long Created, string Model, IReadOnlyList<TChoice> Choices, UsageBody? Usage = null);

/// <summary>The one choice of a chat.completion.</summary>
internal sealed record ChatChoiceBody(int Index, ChatMessageBody Message, [property: JsonIgnore(Condition = JsonIgnoreCondition.Never), JsonPropertyOrder(1)] string? FinishReason)
{
    [JsonIgnore(Condition = JsonIgnoreCondition.Never)] public string? Logprobs => null;
}

/// <summary>The assistant's message: content is null (not left out) beside tool calls when there is no text, as OpenAI sends it.</summary>
internal sealed record ChatMessageBody(
    string Role, [property: JsonIgnore(Condition = JsonIgnoreCondition.Never)] string? Content, string? ReasoningContent, IReadOnlyList<ToolCallBody>? ToolCalls);

/// <summary>The one choice of a chat.completion.chunk; finish_reason is null until the last chunk.</summary>
internal sealed record ChunkChoiceBody(int Index, DeltaBody Delta, [property: JsonIgnore(Condition = JsonIgnoreCondition.Never), JsonPropertyOrder(1)] string? FinishReason)
{
    [JsonIgnore(Condition = JsonIgnoreCondition.Never)] public string? Logprobs => null;
}

/// <summary>What one chunk adds: the role (first chunk only), then reasoning, content and completed tool calls.</summary>
internal sealed record DeltaBody(string? Role = null, string? ReasoningContent = null, string? Content = null, IReadOnlyList<ToolCallBody>? ToolCalls = null);

/// <summary>A tool call; its arguments are a JSON text, as OpenAI sends them.</summary>
internal sealed record ToolCallBody(int Index, string Id, string Type, FunctionCallBody Function);

internal sealed record FunctionCallBody(string Name, string Arguments);

/// <summary>The one choice of a text_completion (whole or chunk).</summary>
internal sealed record TextChoiceBody(string Text, int Index, [property: JsonIgnore(Condition = JsonIgnoreCondition.Never), JsonPropertyOrder(1)] string? FinishReason)
{
    [JsonIgnore(Condition = JsonIgnoreCondition.Never)] public string? Logprobs => null;
}

/// <summary>Token counts, and our extension "mimo" (clients ignore unknown fields): what the chat page shows under each answer.</summary>
internal sealed record UsageBody(int PromptTokens, int CompletionTokens, int TotalTokens, MimoUsageBody Mimo);

internal sealed record MimoUsageBody(double TimeToFirstTokenMs, double TokensPerSecond, int DecodeSteps, double AcceptanceLength, int DraftDepth);

/// <summary>GET /v1/models.</summary>
internal sealed record ModelListBody(string Object, IReadOnlyList<ModelBody> Data);

/// <summary>GET /v1/models/{id}, and each entry of the list.</summary>
internal sealed record ModelBody(string Id, string Object, long Created, string OwnedBy, int MaxModelLen);

/// <summary>{"error": {"message", "type", "param", "code"}}, param and code null when there is none.</summary>
internal sealed record ErrorBody(ErrorDetailBody Error);

internal sealed record ErrorDetailBody(
    string Message, string Type,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.Never)] string? Param,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.Never)] string? Code);

/// <summary>GET /health.</summary>
internal sealed record HealthBody(string Status, string Model, int Running, int Queued);

using System.Runtime.CompilerServices;
using System.Text.Json;
using Microsoft.Extensions.AI;
using MimoSharp.Server.Engine;
using AIChatMessage = Microsoft.Extensions.AI.ChatMessage;
using AIChatRole = Microsoft.Extensions.AI.ChatRole;

namespace MimoSharp.Server.AI;

/// <summary>
/// <see cref="IChatClient"/> over the in-process engine, no HTTP involved: requests join the same continuous
/// batch as the server's. Streams <see cref="ChatResponseUpdate"/>s as tokens are decoded; MiMo's reasoning
/// arrives as <see cref="TextReasoningContent"/>, tool calls as <see cref="FunctionCallContent"/> (so
/// <c>UseFunctionInvocation()</c> works), and the last update carries the finish reason and usage.
/// Cancelling the token cancels the sequence and frees its slot.
/// </summary>
public sealed class MimoChatClient : IChatClient
{
    private readonly MimoEngine _engine;
    private readonly bool _ownsEngine;
    private readonly ChatClientMetadata _metadata;

    /// <param name="ownsEngine">Dispose the engine with this client (false when DI or the caller owns it).</param>
    public MimoChatClient(MimoEngine engine, bool ownsEngine = false)
    {
        _engine = engine ?? throw new ArgumentNullException(nameof(engine));
        _ownsEngine = ownsEngine;
        _metadata = new ChatClientMetadata("mimosharp", null, engine.ModelId);
    }

    public async Task<ChatResponse> GetResponseAsync(IEnumerable<AIChatMessage> messages, ChatOptions? options = null,
        CancellationToken cancellationToken = default) =>
        await GetStreamingResponseAsync(messages, options, cancellationToken).ToChatResponseAsync(cancellationToken).ConfigureAwait(false);

    public async IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(IEnumerable<AIChatMessage> messages,
        ChatOptions? options = null, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        var request = ChatRequestMapping.ToRequest(messages, options, _engine);
        var generation = _engine.StartChat(request, cancellationToken);
        string responseId = $"chatcmpl-{Guid.NewGuid():N}";
        var created = DateTimeOffset.UtcNow;
        int calls = 0;
        await foreach (var delta in generation.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            var contents = new List<AIContent>(2);
            if (delta.Reasoning.Length > 0) contents.Add(new TextReasoningContent(delta.Reasoning));
            if (delta.Content.Length > 0) contents.Add(new TextContent(delta.Content));
            foreach (var call in delta.ToolCalls)
            {
                contents.Add(FunctionCallContent.CreateFromParsedArguments(call.ArgumentsJson, $"call_{responseId[^12..]}_{calls}", call.Name,
                    static json => JsonSerializer.Deserialize<Dictionary<string, object?>>(json, AIJsonUtilities.DefaultOptions)));
                calls++;
            }
            yield return Update(contents, responseId, created);
        }

        var usage = new UsageDetails
        {
            InputTokenCount = generation.Text.PromptTokens,
            OutputTokenCount = generation.Text.CompletionTokens,
            TotalTokenCount = generation.Text.PromptTokens + generation.Text.CompletionTokens,
        };
        var last = Update([new UsageContent(usage)], responseId, created);
        last.FinishReason = generation.FinishReason switch
        {
            "tool_calls" => ChatFinishReason.ToolCalls,
            "length" => ChatFinishReason.Length,
            _ => ChatFinishReason.Stop,
        };
        yield return last;
    }

    private ChatResponseUpdate Update(IList<AIContent> contents, string responseId, DateTimeOffset created) =>
        new(AIChatRole.Assistant, contents)
        {
            ResponseId = responseId,
            MessageId = responseId,
            ModelId = _engine.ModelId,
            CreatedAt = created,
        };

    public object? GetService(Type serviceType, object? serviceKey = null)
    {
        ArgumentNullException.ThrowIfNull(serviceType);
        if (serviceKey is not null) return null;
        if (serviceType == typeof(ChatClientMetadata)) return _metadata;
        if (serviceType == typeof(MimoEngine)) return _engine;
        return serviceType.IsInstanceOfType(this) ? this : null;
    }

    public void Dispose()
    {
        if (_ownsEngine) _engine.Dispose();
    }
}

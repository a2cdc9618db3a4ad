using System.Runtime.CompilerServices;
using MimoSharp.Text;

namespace MimoSharp.Server.Engine;

/// <summary>
/// One chat request's output while it is generated, split as OpenAI splits it: reasoning (MiMo's
/// &lt;think&gt; block), content, and tool calls. Read it once with <see cref="ReadAsync"/>.
/// </summary>
public sealed class ChatGeneration
{
    private readonly ChatOutputParser _parser;

    internal ChatGeneration(TextGeneration text, IReadOnlyList<ToolDefinition> tools, bool startInReasoning)
    {
        Text = text;
        _parser = new ChatOutputParser(tools, startInReasoning);
    }

    /// <summary>The text underneath (counters, stop handling).</summary>
    public TextGeneration Text { get; }

    public string? ReasoningContent => _parser.ReasoningContent;
    public string Content => _parser.Content;
    public IReadOnlyList<ToolCall> ToolCalls => _parser.ToolCalls;

    /// <summary>OpenAI's finish_reason: "tool_calls" when the model stopped after calling tools, else the text's reason.</summary>
    public string? FinishReason => Text.FinishReason == "stop" && _parser.ToolCalls.Count > 0 ? "tool_calls" : Text.FinishReason;

    /// <summary>Yields each non-empty piece of reasoning, content or completed tool calls as it is decided.</summary>
    public async IAsyncEnumerable<ChatOutputDelta> ReadAsync([EnumeratorCancellation] CancellationToken cancellation = default)
    {
        await foreach (string piece in Text.ReadAsync(cancellation).ConfigureAwait(false))
        {
            var delta = _parser.Push(piece);
            if (!delta.IsEmpty) yield return delta;
        }
        var last = _parser.Finish();
        if (!last.IsEmpty) yield return last;
    }
}

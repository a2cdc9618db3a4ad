using MimoSharp.Inference;
using MimoSharp.Text;

namespace MimoSharp.Server.Engine;

/// <summary>A chat request in the engine's terms (the HTTP layer and the IChatClient both build these).</summary>
public sealed record ChatRequest(IReadOnlyList<ChatMessage> Messages)
{
    public IReadOnlyList<ToolDefinition> Tools { get; init; } = [];

    /// <summary>MiMo's thinking mode: the model reasons in &lt;think&gt;…&lt;/think&gt; before answering (off by default).</summary>
    public bool EnableThinking { get; init; }

    /// <summary>Completion tokens at most; null = whatever the context and the server's limit leave.</summary>
    public int? MaxTokens { get; init; }

    public SamplingOptions Sampling { get; init; } = SamplingOptions.Greedy;

    /// <summary>Strings that end the output (not included in it).</summary>
    public IReadOnlyList<string> Stop { get; init; } = [];

    /// <summary>Generate through end-of-sequence tokens up to the token budget (vLLM's ignore_eos; for benchmarks).</summary>
    public bool IgnoreEos { get; init; }
}

/// <summary>A plain text completion: a prompt given as text or as token ids.</summary>
public sealed record CompletionRequest
{
    public string? Prompt { get; init; }
    public IReadOnlyList<int>? PromptIds { get; init; }
    public int? MaxTokens { get; init; }
    public SamplingOptions Sampling { get; init; } = SamplingOptions.Greedy;
    public IReadOnlyList<string> Stop { get; init; } = [];

    /// <summary>Generate through end-of-sequence tokens up to the token budget (vLLM's ignore_eos; for benchmarks).</summary>
    public bool IgnoreEos { get; init; }
}

/// <summary>What the engine needs to know of a model to check requests against it.</summary>
internal sealed record ModelLimits(int VocabSize, int MaxPositionEmbeddings, int MtpLayers, IReadOnlyList<int> EosTokenIds);

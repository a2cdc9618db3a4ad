namespace MimoSharp.Inference;

/// <summary>What one generation call may do: how many tokens, how they are chosen, when to stop, how far to draft.</summary>
public sealed record GenerationOptions
{
    public int MaxTokens { get; init; } = 128;
    public SamplingOptions Sampling { get; init; } = SamplingOptions.Greedy;

    /// <summary>Token ids that end generation (emitted, then stop).</summary>
    public IReadOnlyCollection<int> StopTokens { get; init; } = [];

    /// <summary>MTP draft depth per step (0 = plain decoding); at most the checkpoint's MTP layer count.</summary>
    public int Speculative { get; init; }

    /// <summary>
    /// Treat <see cref="Speculative"/> as the maximum depth and choose each step's depth from measured costs
    /// and acceptance (<see cref="AdaptiveDraftLength"/>), so drafting never costs more than it saves.
    /// </summary>
    public bool AdaptiveSpeculation { get; init; }

    /// <summary>Prompt tokens per prefill pass; longer prompts are prefilled in several passes.</summary>
    public int PrefillChunk { get; init; } = 512;

    /// <summary>Checks the options against a model with <paramref name="mtpLayers"/> MTP layers (any depth is allowed with a custom draft source).</summary>
    public void Validate(int mtpLayers, bool customDraftSource = false)
    {
        Sampling.Validate();
        if (PrefillChunk < 1)
            throw new ArgumentOutOfRangeException(nameof(PrefillChunk), $"prefill chunk must be ≥ 1, got {PrefillChunk}");
        if (MaxTokens < 0)
            throw new ArgumentOutOfRangeException(nameof(MaxTokens), $"max tokens must be ≥ 0, got {MaxTokens}");
        if (Speculative < 0 || (!customDraftSource && Speculative > mtpLayers))
            throw new ArgumentOutOfRangeException(nameof(Speculative),
                $"--speculative {Speculative} is out of range: this checkpoint has {mtpLayers} MTP layers");
    }
}

namespace MimoSharp.Inference;

/// <summary>Counters of one generation: throughput and, when drafting, how many drafts were accepted.</summary>
public sealed class GenerationStats
{
    public int PromptTokens { get; internal set; }
    public int GeneratedTokens { get; internal set; }
    public double PrefillSeconds { get; internal set; }
    public double DecodeSeconds { get; internal set; }

    /// <summary>Main-model forward passes after the prefill (one per decoding step).</summary>
    public int DecodeSteps { get; internal set; }

    /// <summary>Draft depth configured (K).</summary>
    public int DraftDepth { get; internal set; }

    public long[] DraftsProposed { get; internal set; } = [];
    public long[] DraftsAccepted { get; internal set; } = [];

    /// <summary>Histogram of accepted drafts per step: index a = steps that accepted exactly a drafts.</summary>
    public long[] AcceptedHistogram { get; internal set; } = [];

    public double PrefillTokensPerSecond => PrefillSeconds > 0 ? PromptTokens / PrefillSeconds : 0;

    /// <summary>Tokens per second after the first: the first token comes from the prefill.</summary>
    public double DecodeTokensPerSecond => DecodeSeconds > 0 ? Math.Max(0, GeneratedTokens - 1) / DecodeSeconds : 0;

    /// <summary>Tokens the main model's verification steps produced per forward pass (1 without drafting).</summary>
    public double AcceptanceLength
    {
        get
        {
            long steps = 0, tokens = 0;
            for (int a = 0; a < AcceptedHistogram.Length; a++)
            {
                steps += AcceptedHistogram[a];
                tokens += AcceptedHistogram[a] * (a + 1);
            }
            return steps > 0 ? (double)tokens / steps : 0;
        }
    }

    /// <summary>For each depth, the fraction of its drafts that were accepted.</summary>
    public double[] AcceptedPerDepth =>
        DraftsProposed.Select((p, k) => p > 0 ? (double)DraftsAccepted[k] / p : 0).ToArray();
}

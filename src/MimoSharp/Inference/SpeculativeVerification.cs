using MimoSharp.Tensors;

namespace MimoSharp.Inference;

/// <summary>
/// The verify rule of self-speculative decoding (the paper's MTP drafts checked by the main model in one pass). For
/// each draft in order, with p the main model's distribution at its position and q the drafter's: greedy decoding
/// accepts a draft that is p's argmax; sampling accepts it with probability min(1, p/q), which keeps the output
/// distributed exactly as p (speculative sampling). The first rejection is replaced by p's argmax (greedy) or a draw
/// from the residual max(0, p − q) renormalised; when every draft is accepted, one more token comes from p.
/// </summary>
public static class SpeculativeVerification
{
    /// <summary>Whether <paramref name="draft"/> stands. Sampling draws one uniform from <paramref name="sampler"/>.</summary>
    public static bool Accept(int draft, ReadOnlySpan<float> p, ReadOnlySpan<float> q, bool greedy, Sampler sampler) =>
        greedy ? draft == VectorMath.ArgMax(p) : sampler.NextUniform() * q[draft] < p[draft];

    /// <summary>The token that replaces a rejected draft; <paramref name="scratch"/> (vocabulary-sized) holds the residual.</summary>
    public static int Correct(ReadOnlySpan<float> p, ReadOnlySpan<float> q, bool greedy, Sampler sampler, Span<float> scratch)
    {
        if (greedy) return VectorMath.ArgMax(p);
        for (int j = 0; j < p.Length; j++) scratch[j] = Math.Max(0f, p[j] - q[j]);
        Sampler.Normalize(scratch[..p.Length]);
        return sampler.Draw(scratch[..p.Length]);
    }

    /// <summary>The extra token after every draft was accepted (or the only one, without drafts).</summary>
    public static int Bonus(ReadOnlySpan<float> p, bool greedy, Sampler sampler) => greedy ? VectorMath.ArgMax(p) : sampler.Draw(p);
}

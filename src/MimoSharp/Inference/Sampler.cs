using MimoSharp.Tensors;

namespace MimoSharp.Inference;

/// <summary>
/// Turns logits into the distribution the options describe, and draws from it with a seeded
/// generator (same seed, same tokens). Speculative decoding uses <see cref="Distribution"/> for both
/// the target and the draft, so every filter applies to p and q alike.
/// </summary>
public sealed class Sampler
{
    private readonly SamplingOptions _options;
    private readonly Random _random;
    private ulong[] _order = [];
    private bool[] _seen = [];

    public SamplingOptions Options => _options;

    public Sampler(SamplingOptions options)
    {
        options.Validate();
        _options = options;
        _random = options.Seed is ulong s ? new Random(unchecked((int)(s ^ (s >> 32)))) : new Random();
    }

    /// <summary>A uniform draw in [0, 1) from this sampler's stream.</summary>
    public double NextUniform() => _random.NextDouble();

    /// <summary>Repetition penalty (HF rule): a seen token's logit is divided by the penalty if positive, else multiplied.</summary>
    public void ApplyPenalty(Span<float> logits, IReadOnlyList<int> history)
    {
        float rp = _options.RepetitionPenalty;
        if (rp == 1f) return;
        // Each distinct token once: marks in a reused vocabulary-sized array (no set per call), cleared after.
        if (_seen.Length < logits.Length) _seen = new bool[logits.Length];
        int count = history.Count;
        for (int i = 0; i < count; i++)
        {
            int id = history[i];
            if ((uint)id >= (uint)logits.Length || _seen[id]) continue;
            _seen[id] = true;
            logits[id] = logits[id] > 0 ? logits[id] / rp : logits[id] * rp;
        }
        for (int i = 0; i < count; i++)
            if ((uint)history[i] < (uint)logits.Length) _seen[history[i]] = false;
    }

    /// <summary>The greedy choice after the repetition penalty.</summary>
    public int ArgMax(Span<float> logits, IReadOnlyList<int> history)
    {
        ApplyPenalty(logits, history);
        return VectorMath.ArgMax(logits);
    }

    /// <summary>
    /// Writes the normalised sampling distribution into <paramref name="probs"/> (the logits are modified).
    /// Greedy options give a one-hot distribution at the argmax.
    /// </summary>
    public void Distribution(Span<float> logits, IReadOnlyList<int> history, Span<float> probs)
    {
        int v = logits.Length;
        if (_options.IsGreedy)
        {
            int best = ArgMax(logits, history);
            probs[..v].Clear();
            probs[best] = 1f;
            return;
        }
        ApplyPenalty(logits, history);
        float invT = 1f / _options.Temperature;
        float max = VectorMath.Max(logits);
        double sum = 0;
        for (int i = 0; i < v; i++)
        {
            float p = MathF.Exp((logits[i] - max) * invT);
            probs[i] = p;
            sum += p;
        }
        for (int i = 0; i < v; i++) probs[i] = (float)(probs[i] / sum);

        bool needsOrder = (_options.TopK > 0 && _options.TopK < v) || _options.TopP < 1f;
        if (needsOrder)
        {
            // Descending probability, ascending id on ties: a total order, so the kept set is deterministic. Each key
            // packs the probability's complemented bits (non-negative floats order as their bits) above the id, so one
            // sort of integers gives that order without a comparison delegate.
            if (_order.Length != v) _order = new ulong[v];
            for (int i = 0; i < v; i++) _order[i] = (ulong)~BitConverter.SingleToUInt32Bits(probs[i]) << 32 | (uint)i;
            Array.Sort(_order);
            int keep = v;
            if (_options.TopK > 0) keep = Math.Min(keep, _options.TopK);
            if (_options.TopP < 1f)
            {
                double cum = 0;
                for (int i = 0; i < keep; i++)
                {
                    cum += probs[(int)_order[i]];
                    if (cum >= _options.TopP) { keep = i + 1; break; }
                }
            }
            for (int i = keep; i < v; i++) probs[(int)_order[i]] = 0f;
        }
        if (_options.MinP > 0f)
        {
            float top = VectorMath.Max(probs[..v]);
            float threshold = _options.MinP * top;
            for (int i = 0; i < v; i++) if (probs[i] < threshold) probs[i] = 0f;
        }
        Normalize(probs[..v]);
    }

    public static void Normalize(Span<float> probs)
    {
        double sum = 0;
        foreach (var p in probs) sum += p;
        if (sum <= 0) throw new InvalidOperationException("the sampling distribution has no mass left");
        for (int i = 0; i < probs.Length; i++) probs[i] = (float)(probs[i] / sum);
    }

    /// <summary>Draws an index from a normalised distribution.</summary>
    public int Draw(ReadOnlySpan<float> probs)
    {
        double u = _random.NextDouble(), cum = 0;
        int last = -1;
        for (int i = 0; i < probs.Length; i++)
        {
            if (probs[i] <= 0) continue;
            last = i;
            cum += probs[i];
            if (u < cum) return i;
        }
        return last >= 0 ? last : throw new InvalidOperationException("the sampling distribution is empty");
    }

    /// <summary>Chooses the next token from raw logits (modified in place); <paramref name="scratch"/> holds V floats.</summary>
    public int Sample(Span<float> logits, IReadOnlyList<int> history, Span<float> scratch)
    {
        if (_options.IsGreedy) return ArgMax(logits, history);
        Distribution(logits, history, scratch);
        return Draw(scratch[..logits.Length]);
    }
}

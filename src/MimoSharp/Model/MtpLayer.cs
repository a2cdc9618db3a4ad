using System.Buffers;
using MimoSharp.Inference;
using MimoSharp.Tensors;

namespace MimoSharp.Model;

/// <summary>
/// One Multi-Token-Prediction layer (spec §7): fuses the normalised embedding of a later token with
/// the normalised main-model hidden state, then a sliding-window attention block and a dense SwiGLU.
/// Depths are not chained: every depth reads the main model's pre-norm hidden state.
/// </summary>
public sealed class MtpLayer
{
    private readonly RmsNorm _enorm, _hnorm, _inputNorm, _preMlpNorm;
    private readonly WeightMatrix _ehProj;

    public int Depth { get; }
    public Attention Attention { get; }
    public SwiGlu FeedForward { get; }
    public RmsNorm FinalNorm { get; }

    internal MtpLayer(WeightLoader w, int depth)
    {
        var cfg = w.Config;
        Depth = depth;
        string p = $"model.mtp.layers.{depth}.";
        int h = cfg.HiddenSize;
        float eps = (float)cfg.RmsNormEps;
        _enorm = new RmsNorm(w.Vector(p + "enorm.weight", h), eps);
        _hnorm = new RmsNorm(w.Vector(p + "hnorm.weight", h), eps);
        _ehProj = w.Matrix(p + "eh_proj.weight", h, 2 * h);
        _inputNorm = new RmsNorm(w.Vector(p + "input_layernorm.weight", h), eps);
        Attention = new Attention(w, p + "self_attn.", cfg.Swa, cfg.SlidingWindow);
        _preMlpNorm = new RmsNorm(w.Vector(p + "pre_mlp_layernorm.weight", h), eps);
        FeedForward = new SwiGlu(w, p + "mlp.", h, cfg.IntermediateSize);
        FinalNorm = new RmsNorm(w.Vector(p + "final_layernorm.weight", h), eps);
    }

    public IEnumerable<WeightMatrix> Weights => Attention.Weights.Concat(FeedForward.Weights).Append(_ehProj);

    /// <summary>
    /// Block output (before final_layernorm) for rows that pair token embeddings <paramref name="embedded"/>
    /// with main hidden states <paramref name="hidden"/>; writes [N, H] to <paramref name="output"/>.
    /// </summary>
    public void Forward(ReadOnlySpan<float> embedded, ReadOnlySpan<float> hidden, Span<float> output,
        BatchLayout layout, ReadOnlySpan<LayerKvCache> caches)
    {
        int n = layout.RowCount, d = _enorm.Size;
        var pool = ArrayPool<float>.Shared;
        float[] fused = pool.Rent(n * 2 * d), xn = pool.Rent(n * d), delta = pool.Rent(n * d);
        try
        {
            for (int t = 0; t < n; t++)
            {
                // Embedding half first, then the hidden half (the V2-Flash order).
                _enorm.Apply(embedded.Slice(t * d, d), fused.AsSpan(t * 2 * d, d));
                _hnorm.Apply(hidden.Slice(t * d, d), fused.AsSpan(t * 2 * d + d, d));
            }
            var x = output[..(n * d)];
            MatMul.Compute(_ehProj, fused, n, x);
            _inputNorm.ApplyRows(x, xn, n);
            Attention.Forward(xn, delta, layout, caches);
            VectorMath.Add(delta.AsSpan(0, n * d), x);
            _preMlpNorm.ApplyRows(x, xn, n);
            FeedForward.Forward(xn, delta, n);
            VectorMath.Add(delta.AsSpan(0, n * d), x);
        }
        finally
        {
            pool.Return(fused);
            pool.Return(xn);
            pool.Return(delta);
        }
    }
}

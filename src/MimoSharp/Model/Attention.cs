using System.Buffers;
using MimoSharp.Config;
using MimoSharp.Inference;
using MimoSharp.Tensors;

namespace MimoSharp.Model;

/// <summary>
/// Grouped-query attention of one layer (spec §3): q/k/v projections, V scaled by
/// <c>attention_value_scale</c>, partial RoPE on q and k, scores scaled by head_dim^-0.5, a causal
/// mask limited to the sliding window (W keys including the current one) for SWA layers, and an
/// optional per-head attention sink that joins the softmax but carries no value.
/// </summary>
public sealed class Attention
{
    private readonly WeightMatrix _q, _k, _v, _o;
    private readonly float[]? _sinks;
    private readonly PartialRope _rope;
    private readonly float _valueScale;
    private readonly float _scoreScale;

    public AttentionShape Shape { get; }

    /// <summary>Keys visible to a query, itself included; 0 = global (plain causal).</summary>
    public int Window { get; }

    public int KeyWidth => Shape.NumKvHeads * Shape.HeadDim;
    public int ValueWidth => Shape.NumKvHeads * Shape.VHeadDim;

    internal Attention(WeightLoader w, string prefix, AttentionShape shape, int window)
    {
        var cfg = w.Config;
        int h = cfg.HiddenSize;
        Shape = shape;
        Window = window;
        _q = w.Matrix(prefix + "q_proj.weight", shape.NumHeads * shape.HeadDim, h);
        _k = w.Matrix(prefix + "k_proj.weight", shape.NumKvHeads * shape.HeadDim, h);
        _v = w.Matrix(prefix + "v_proj.weight", shape.NumKvHeads * shape.VHeadDim, h);
        _o = w.Matrix(prefix + "o_proj.weight", h, shape.NumHeads * shape.VHeadDim);
        string sinkName = prefix + "attention_sink_bias";
        if (shape.HasSink)
            _sinks = w.Vector(sinkName, shape.NumHeads);
        else if (w.Has(sinkName))
        {
            string key = window > 0 ? "add_swa_attention_sink_bias" : "add_full_attention_sink_bias";
            throw new MimoConfigException("config.json", key, $"tensor {sinkName} exists but {key} is false");
        }
        _rope = new PartialRope(shape.HeadDim, cfg.RotaryDim(shape), shape.RopeTheta);
        _valueScale = (float)cfg.AttentionValueScale;
        _scoreScale = (float)(1.0 / Math.Sqrt(shape.HeadDim));
    }

    public IEnumerable<WeightMatrix> Weights => [_q, _k, _v, _o];

    /// <summary>How k_proj/v_proj's FP8 block scales are laid out (the release's fused K|V, the plain grid, or not FP8).</summary>
    public Checkpoints.Fp8ScaleLayout KeyValueScaleLayout => _k.ScaleLayout;

    public LayerKvCache CreateCache(int lookahead, KvCacheDtype dtype = KvCacheDtype.F32) => new(KeyWidth, ValueWidth, Window, lookahead, dtype);

    /// <summary>
    /// Attends the normalised rows <paramref name="x"/> [N, H] and writes o_proj's output to
    /// <paramref name="y"/> [N, H]. <paramref name="caches"/> holds one cache per segment; each
    /// segment's new keys and values are appended to its cache.
    /// </summary>
    public void Forward(ReadOnlySpan<float> x, Span<float> y, BatchLayout layout, ReadOnlySpan<LayerKvCache> caches)
    {
        int n = layout.RowCount;
        int qw = Shape.NumHeads * Shape.HeadDim, kw = KeyWidth, vw = ValueWidth;
        var pool = ArrayPool<float>.Shared;
        float[] q = pool.Rent(n * qw), k = pool.Rent(n * kw), v = pool.Rent(n * vw), o = pool.Rent(n * Shape.NumHeads * Shape.VHeadDim);
        try
        {
            MatMul.Compute(_q, x, n, q);
            MatMul.Compute(_k, x, n, k);
            MatMul.Compute(_v, x, n, v);
            var positions = layout.Positions;
            for (int t = 0; t < n; t++)
            {
                int p = positions[t];
                _rope.Apply(q.AsSpan(t * qw, qw), Shape.NumHeads, p);
                _rope.Apply(k.AsSpan(t * kw, kw), Shape.NumKvHeads, p);
            }
            if (_valueScale != 1f) VectorMath.Scale(v.AsSpan(0, n * vw), _valueScale);

            var segments = layout.Segments;
            for (int s = 0; s < segments.Length; s++)
            {
                var seg = segments[s];
                var cache = caches[s];
                if (cache.Count != seg.StartPosition)
                    throw new InvalidOperationException(
                        $"segment starts at position {seg.StartPosition} but its cache holds {cache.Count} positions");
                if (cache.HalfFormat is HalfFormat format)
                {
                    // The pass attends its own keys and values as the cache will hold them, so a position's
                    // numbers do not depend on whether it is read in this pass or a later one.
                    HalfFloats.Round(k.AsSpan(seg.FirstRow * kw, seg.Length * kw), format);
                    HalfFloats.Round(v.AsSpan(seg.FirstRow * vw, seg.Length * vw), format);
                }
                ChunkedAttention.Run(Shape, Window, _scoreScale, _sinks, q, k, v, o, seg, cache);
                for (int i = 0; i < seg.Length; i++)
                {
                    int t = seg.FirstRow + i;
                    cache.Append(k.AsSpan(t * kw, kw), v.AsSpan(t * vw, vw));
                }
            }
            MatMul.Compute(_o, o, n, y);
        }
        finally
        {
            pool.Return(q); pool.Return(k); pool.Return(v); pool.Return(o);
        }
    }
}

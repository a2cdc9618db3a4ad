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

    public LayerKvCache CreateCache(int lookahead) => new(KeyWidth, ValueWidth, Window, lookahead);

    /// <summary>
    /// Attends the normalised rows <paramref name="x"/> [N, H] and writes o_proj's output to
    /// <paramref name="y"/> [N, H]. <paramref name="caches"/> holds one cache per segment; each
    /// segment's new keys and values are appended to its cache.
    /// </summary>
    public void Forward(ReadOnlySpan<float> x, Span<float> y, BatchLayout layout, IReadOnlyList<LayerKvCache> caches)
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
            for (int t = 0; t < n; t++)
            {
                int p = layout.Positions[t];
                _rope.Apply(q.AsSpan(t * qw, qw), Shape.NumHeads, p);
                _rope.Apply(k.AsSpan(t * kw, kw), Shape.NumKvHeads, p);
            }
            if (_valueScale != 1f) VectorMath.Scale(v.AsSpan(0, n * vw), _valueScale);

            for (int s = 0; s < layout.Segments.Count; s++)
            {
                var seg = layout.Segments[s];
                var cache = caches[s];
                if (cache.Count != seg.StartPosition)
                    throw new InvalidOperationException(
                        $"segment starts at position {seg.StartPosition} but its cache holds {cache.Count} positions");
                Attend(q, k, v, o, seg, cache);
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

    /// <summary>
    /// Each (row, head) pair is independent; keys are visited in position order whether they come
    /// from the cache (earlier passes) or from this pass's rows, so results do not depend on how
    /// the sequence was split into passes.
    /// </summary>
    private void Attend(float[] q, float[] k, float[] v, float[] o, BatchLayout.Segment seg, LayerKvCache cache)
    {
        int maxKeys = Window > 0 ? Window : seg.StartPosition + seg.Length;
        int jobs = seg.Length * Shape.NumHeads;
        long work = (long)jobs * Math.Min(maxKeys, seg.StartPosition + seg.Length) * (Shape.HeadDim + Shape.VHeadDim);
        var body = new HeadJob(this, q, k, v, o, seg, cache, maxKeys);
        if (work < 1 << 15)
            for (int j = 0; j < jobs; j++) body.Run(j);
        else
            ComputePool.For(jobs, ref body);
    }

    /// <summary>One (row, head) pair of <see cref="Attend"/>.</summary>
    private readonly struct HeadJob(Attention a, float[] q, float[] k, float[] v, float[] o, BatchLayout.Segment seg, LayerKvCache cache, int maxKeys)
        : IParallelBody
    {
        public void Run(int job)
        {
            int heads = a.Shape.NumHeads, hd = a.Shape.HeadDim, vd = a.Shape.VHeadDim, rep = a.Shape.QueriesPerKvHead;
            int kw = a.KeyWidth, vw = a.ValueWidth, qw = heads * hd, ow = heads * vd;
            int i = job / heads, h = job % heads, kvh = h / rep;
            int t = seg.FirstRow + i, p = seg.StartPosition + i;
            // Keys skipped by a cache that caught up late are never visible; only rows whose whole window is
            // present are used by callers (see LayerKvCache.SkipTo).
            int first = a.Window > 0 ? Math.Max(cache.SkippedBelow, p - a.Window + 1) : 0;
            var scores = ArrayPool<float>.Shared.Rent(maxKeys);
            try
            {
                var qh = new ReadOnlySpan<float>(q, t * qw + h * hd, hd);
                float m = float.NegativeInfinity;
                for (int j = first; j <= p; j++)
                {
                    var kj = KeyAt(k, cache, seg, j, kw).Slice(kvh * hd, hd);
                    float sc = VectorMath.Dot(qh, kj) * a._scoreScale;
                    scores[j - first] = sc;
                    if (sc > m) m = sc;
                }
                float sink = a._sinks is null ? float.NegativeInfinity : a._sinks[h];
                if (sink > m) m = sink;
                var oh = new Span<float>(o, t * ow + h * vd, vd);
                oh.Clear();
                float denom = 0f;
                for (int j = first; j <= p; j++)
                {
                    float e = MathF.Exp(scores[j - first] - m);
                    denom += e;
                    VectorMath.MultiplyAdd(ValueAt(v, cache, seg, j, vw).Slice(kvh * vd, vd), e, oh);
                }
                if (a._sinks is not null) denom += MathF.Exp(sink - m);
                VectorMath.Scale(oh, 1f / denom);
            }
            finally
            {
                ArrayPool<float>.Shared.Return(scores);
            }
        }
    }

    private static ReadOnlySpan<float> KeyAt(float[] k, LayerKvCache cache, BatchLayout.Segment seg, int position, int kw) =>
        position < seg.StartPosition
            ? cache.Key(position)
            : new ReadOnlySpan<float>(k, (seg.FirstRow + position - seg.StartPosition) * kw, kw);

    private static ReadOnlySpan<float> ValueAt(float[] v, LayerKvCache cache, BatchLayout.Segment seg, int position, int vw) =>
        position < seg.StartPosition
            ? cache.Value(position)
            : new ReadOnlySpan<float>(v, (seg.FirstRow + position - seg.StartPosition) * vw, vw);
}

using System.Buffers;
using MimoSharp.Tensors;

namespace MimoSharp.Model;

/// <summary>
/// Mixture of SwiGLU experts behind a <see cref="TopKRouter"/>, no shared expert (spec §5).
/// Rows are grouped by expert so each chosen expert runs once per pass over all its rows.
/// </summary>
public sealed class MoeFeedForward : IFeedForward
{
    private readonly SwiGlu[] _experts;
    private readonly int _hidden;

    public TopKRouter Router { get; }

    /// <summary>Optional hook that observes (row, chosen experts) for statistics and routing replay.</summary>
    public Action<int, ReadOnlySpan<int>>? OnRoute { get; set; }

    internal MoeFeedForward(WeightLoader w, string prefix, Config.MimoConfig cfg)
    {
        _hidden = cfg.HiddenSize;
        Router = new TopKRouter(w, prefix, cfg);
        _experts = new SwiGlu[cfg.NRoutedExperts];
        for (int e = 0; e < _experts.Length; e++)
            _experts[e] = new SwiGlu(w, $"{prefix}experts.{e}.", cfg.HiddenSize, cfg.MoeIntermediateSize);
    }

    public IEnumerable<WeightMatrix> Weights => _experts.SelectMany(e => e.Weights).Prepend(Router.Gate);

    public long ActiveBytesPerToken => Router.Gate.StoredBytes + Router.TopK * _experts[0].ActiveBytesPerToken;

    public unsafe void Forward(ReadOnlySpan<float> x, Span<float> y, int n)
    {
        int h = _hidden, k = Router.TopK, e = Router.Experts;
        var pool = ArrayPool<float>.Shared;
        float[] logits = pool.Rent(n * e), weights = pool.Rent(n * k);
        int[] chosen = ArrayPool<int>.Shared.Rent(n * k);
        try
        {
            Router.Logits(x, logits, n);
            for (int t = 0; t < n; t++)
            {
                Router.Route(logits.AsSpan(t * e, e), chosen.AsSpan(t * k, k), weights.AsSpan(t * k, k));
                OnRoute?.Invoke(t, chosen.AsSpan(t * k, k));
            }
            // Group rows by expert. Experts run in parallel, each into its own buffer; then every row sums its
            // experts' outputs in ascending expert id, an order fixed by the row alone.
            var rowsOf = new List<(int Row, float Weight)>[e];
            var active = new List<int>();
            for (int ex = 0; ex < e; ex++)
            {
                for (int t = 0; t < n; t++)
                    for (int j = 0; j < k; j++)
                        if (chosen[t * k + j] == ex) (rowsOf[ex] ??= []).Add((t, weights[t * k + j]));
                if (rowsOf[ex] is not null) active.Add(ex);
            }
            var outputs = new float[active.Count][];
            fixed (float* px = x)
            {
                nint input = (nint)px;
                ComputePool.For(active.Count, a =>
                {
                    int ex = active[a];
                    var rows = rowsOf[ex];
                    int m = rows.Count;
                    float[] xin = pool.Rent(m * h);
                    var xout = pool.Rent(m * h);
                    try
                    {
                        for (int i = 0; i < m; i++) new ReadOnlySpan<float>((float*)input + (long)rows[i].Row * h, h).CopyTo(xin.AsSpan(i * h, h));
                        _experts[ex].Forward(xin, xout, m);
                    }
                    finally
                    {
                        pool.Return(xin);
                    }
                    outputs[a] = xout;
                });
            }
            y[..(n * h)].Clear();
            for (int a = 0; a < active.Count; a++)
            {
                var rows = rowsOf[active[a]];
                for (int i = 0; i < rows.Count; i++)
                    VectorMath.MultiplyAdd(outputs[a].AsSpan(i * h, h), rows[i].Weight, y.Slice(rows[i].Row * h, h));
                pool.Return(outputs[a]);
            }
        }
        finally
        {
            pool.Return(logits);
            pool.Return(weights);
            ArrayPool<int>.Shared.Return(chosen);
        }
    }
}

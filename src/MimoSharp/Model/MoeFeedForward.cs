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

    public void Forward(ReadOnlySpan<float> x, Span<float> y, int n)
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
            y[..(n * h)].Clear();
            // Experts in ascending id order: a row sums its experts' outputs in an order fixed by the row alone.
            var rows = new List<(int Row, float Weight)>();
            for (int ex = 0; ex < e; ex++)
            {
                rows.Clear();
                for (int t = 0; t < n; t++)
                    for (int j = 0; j < k; j++)
                        if (chosen[t * k + j] == ex) rows.Add((t, weights[t * k + j]));
                if (rows.Count == 0) continue;
                int m = rows.Count;
                float[] xin = pool.Rent(m * h), xout = pool.Rent(m * h);
                try
                {
                    for (int i = 0; i < m; i++) x.Slice(rows[i].Row * h, h).CopyTo(xin.AsSpan(i * h, h));
                    _experts[ex].Forward(xin, xout, m);
                    for (int i = 0; i < m; i++)
                        VectorMath.MultiplyAdd(xout.AsSpan(i * h, h), rows[i].Weight, y.Slice(rows[i].Row * h, h));
                }
                finally
                {
                    pool.Return(xin);
                    pool.Return(xout);
                }
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

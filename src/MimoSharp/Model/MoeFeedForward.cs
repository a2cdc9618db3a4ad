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

    public void Forward(ReadOnlySpan<float> x, Span<float> y, int n) => Forward(x, y, n, default);

    /// <summary>
    /// The FFN of <paramref name="n"/> rows; when <paramref name="route"/> is not empty it receives the experts each
    /// row was sent to, [n, k] (what <see cref="RecordedRouting"/> keeps for routing replay).
    /// </summary>
    public void Forward(ReadOnlySpan<float> x, Span<float> y, int n, Span<int> route)
    {
        int h = _hidden, k = Router.TopK, e = Router.Experts;
        var pool = ArrayPool<float>.Shared;
        float[] logits = pool.Rent(n * e), weights = pool.Rent(n * k);
        int[] chosen = ArrayPool<int>.Shared.Rent(n * k);
        try
        {
            Router.Logits(x, logits, n);
            for (int t = 0; t < n; t++)
                Router.Route(logits.AsSpan(t * e, e), chosen.AsSpan(t * k, k), weights.AsSpan(t * k, k));
            if (!route.IsEmpty) chosen.AsSpan(0, n * k).CopyTo(route);
            // Group the (row, expert) assignments by expert with a counting sort: slots [start[ex], start[ex+1])
            // hold expert ex's rows in ascending order. Experts run in parallel, each writing its slots' outputs;
            // then every row sums its experts' outputs in ascending expert id, an order fixed by the row alone.
            int slots = n * k;
            int[] start = ArrayPool<int>.Shared.Rent(e + 1), slotRow = ArrayPool<int>.Shared.Rent(slots), active = ArrayPool<int>.Shared.Rent(e);
            float[] slotWeight = pool.Rent(slots), xin = pool.Rent(slots * h), xout = pool.Rent(slots * h);
            try
            {
                start.AsSpan(0, e + 1).Clear();
                for (int i = 0; i < slots; i++) start[chosen[i] + 1]++;
                int activeCount = 0;
                for (int ex = 0; ex < e; ex++)
                {
                    if (start[ex + 1] > 0) active[activeCount++] = ex;
                    start[ex + 1] += start[ex];
                }
                var fill = ArrayPool<int>.Shared.Rent(e);
                start.AsSpan(0, e).CopyTo(fill);
                for (int t = 0; t < n; t++)
                    for (int j = 0; j < k; j++)
                    {
                        int slot = fill[chosen[t * k + j]]++;
                        slotRow[slot] = t;
                        slotWeight[slot] = weights[t * k + j];
                        x.Slice(t * h, h).CopyTo(xin.AsSpan(slot * h, h));
                    }
                ArrayPool<int>.Shared.Return(fill);

                var run = new ExpertJob(_experts, active, start, xin, xout, h);
                ComputePool.For(activeCount, ref run);

                y[..(n * h)].Clear();
                for (int slot = 0; slot < slots; slot++)
                    VectorMath.MultiplyAdd(xout.AsSpan(slot * h, h), slotWeight[slot], y.Slice(slotRow[slot] * h, h));
            }
            finally
            {
                ArrayPool<int>.Shared.Return(start);
                ArrayPool<int>.Shared.Return(slotRow);
                ArrayPool<int>.Shared.Return(active);
                pool.Return(slotWeight);
                pool.Return(xin);
                pool.Return(xout);
            }
        }
        finally
        {
            pool.Return(logits);
            pool.Return(weights);
            ArrayPool<int>.Shared.Return(chosen);
        }
    }

    /// <summary>Chosen expert number <c>index</c> over all its rows (experts run in parallel, each on one thread).</summary>
    private readonly struct ExpertJob(SwiGlu[] experts, int[] active, int[] start, float[] xin, float[] xout, int h) : IParallelBody
    {
        public void Run(int index)
        {
            int ex = active[index], first = start[ex], m = start[ex + 1] - first;
            experts[ex].Forward(xin.AsSpan(first * h, m * h), xout.AsSpan(first * h, m * h), m);
        }
    }
}

using MimoSharp.Config;

namespace MimoSharp.Model;

/// <summary>
/// Routing replay (R3, MiMo-V2-Flash post-training): the experts every MoE layer chose for every row of a forward
/// pass. The inference engine records it while it scores a rollout — the experts the sampled tokens were produced
/// with — and the training forward is given it to replay, so the policy gradient flows through those experts and
/// not through whatever the trainer's router would pick. Either way it is an argument of the forward pass: nothing
/// on the model is switched on and off.
/// </summary>
public sealed class RecordedRouting
{
    private readonly int[][] _experts;        // [MoE layer, in layer order][row · TopK + slot]
    private readonly int[] _moeOfLayer;       // decoder layer → its MoE number, -1 for a dense layer

    /// <summary>An empty routing for <paramref name="rows"/> rows of a model shaped by <paramref name="config"/>.</summary>
    public RecordedRouting(MimoConfig config, int rows) : this(MoeNumbers(config), rows, config.NumExpertsPerTok)
    {
    }

    private RecordedRouting(int[] moeOfLayer, int rows, int topK)
    {
        _moeOfLayer = moeOfLayer;
        Rows = rows;
        TopK = topK;
        _experts = new int[moeOfLayer.Count(m => m >= 0)][];
        for (int m = 0; m < _experts.Length; m++) _experts[m] = new int[rows * topK];
    }

    /// <summary>Rows of the forward pass, in the order of its flattened input.</summary>
    public int Rows { get; }

    /// <summary>Experts per token (num_experts_per_tok).</summary>
    public int TopK { get; }

    /// <summary>Number of MoE layers.</summary>
    public int MoeLayers => _experts.Length;

    /// <summary>The experts of MoE layer number <paramref name="moe"/> (in layer order): [row · TopK + slot].</summary>
    public int[] this[int moe] => _experts[moe];

    /// <summary>The experts of decoder layer <paramref name="layer"/>, which must be an MoE layer: [row · TopK + slot].</summary>
    public int[] OfLayer(int layer) =>
        layer < _moeOfLayer.Length && _moeOfLayer[layer] >= 0
            ? _experts[_moeOfLayer[layer]]
            : throw new ArgumentOutOfRangeException(nameof(layer), $"layer {layer} is not an MoE layer: it has no routing");

    /// <summary>Rows <paramref name="firstRow"/> … firstRow + rows − 1 as a routing of their own (one sequence of a batched pass).</summary>
    public RecordedRouting Slice(int firstRow, int rows)
    {
        var slice = new RecordedRouting(_moeOfLayer, rows, TopK);
        for (int m = 0; m < _experts.Length; m++) _experts[m].AsSpan(firstRow * TopK, rows * TopK).CopyTo(slice._experts[m]);
        return slice;
    }

    /// <summary>Fails unless this routing has one row per row of a pass over <paramref name="rows"/> rows.</summary>
    public void CheckRows(int rows)
    {
        if (rows != Rows) throw new ArgumentException($"the routing holds {Rows} rows, the forward pass has {rows}");
    }

    /// <summary>
    /// Of the (row, MoE layer) pairs whose row is marked in <paramref name="rows"/>, the fraction where
    /// <paramref name="other"/> chose another set of experts (the order of a row's experts does not matter).
    /// </summary>
    public double FractionDiffering(RecordedRouting other, ReadOnlySpan<bool> rows)
    {
        if (other.Rows != Rows || other.TopK != TopK || other.MoeLayers != MoeLayers || rows.Length != Rows)
            throw new ArgumentException($"routings of {Rows} and {other.Rows} rows (marks for {rows.Length}) cannot be compared");
        Span<int> a = stackalloc int[TopK], b = stackalloc int[TopK];
        long differing = 0, total = 0;
        for (int m = 0; m < MoeLayers; m++)
            for (int r = 0; r < Rows; r++)
            {
                if (!rows[r]) continue;
                total++;
                _experts[m].AsSpan(r * TopK, TopK).CopyTo(a);
                other._experts[m].AsSpan(r * TopK, TopK).CopyTo(b);
                a.Sort();
                b.Sort();
                if (!a.SequenceEqual(b)) differing++;
            }
        return total > 0 ? (double)differing / total : 0;
    }

    private static int[] MoeNumbers(MimoConfig config)
    {
        var moeOfLayer = new int[config.NumHiddenLayers];
        for (int layer = 0, m = 0; layer < moeOfLayer.Length; layer++) moeOfLayer[layer] = config.IsMoeLayer[layer] ? m++ : -1;
        return moeOfLayer;
    }
}

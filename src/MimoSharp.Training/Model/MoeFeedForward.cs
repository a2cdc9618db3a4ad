using MimoSharp.Config;
using static TorchSharp.torch;

namespace MimoSharp.Training.Model;

/// <summary>
/// Routed-expert FFN without shared experts (spec §5): y = Σ_selected w_e · Expert_e(x). Tokens are gathered per
/// expert, so each expert only computes the rows routed to it (padded to <see cref="RowBucket"/>). The last forward's per-expert token counts are
/// kept in <see cref="LastLoad"/> for load balancing and statistics.
/// </summary>
public sealed class MoeFeedForward : nn.Module<Tensor, Tensor>
{
    private readonly MimoConfig _config;
    private readonly SwiGlu[] _experts;
    private readonly ExpertDispatch _dispatch;

    /// <summary>Expert batches are padded to a multiple of this many rows (see <see cref="ExpertDispatch"/>); 128
    /// wastes ~5% of the expert FLOPs at the default model's ~1,400 rows per expert and keeps the shapes few.</summary>
    public const int RowBucket = 128;

    public TopKRouter Gate { get; }

    /// <summary>The routed experts, by id.</summary>
    internal IReadOnlyList<SwiGlu> Experts => _experts;

    /// <summary>Tokens routed to each expert in the last forward (a token counts once per expert that took it).</summary>
    public long[] LastLoad { get; private set; }

    public MoeFeedForward(MimoConfig config) : base(nameof(MoeFeedForward))
    {
        _config = config;
        Gate = new TopKRouter(config);
        register_module("gate", Gate);
        _experts = new SwiGlu[config.NRoutedExperts];
        var list = new nn.Module[config.NRoutedExperts];
        for (int e = 0; e < _experts.Length; e++) list[e] = _experts[e] = new SwiGlu(config.HiddenSize, config.MoeIntermediateSize);
        register_module("experts", nn.ModuleList(list));
        LastLoad = new long[config.NRoutedExperts];
        _dispatch = new ExpertDispatch(config.NRoutedExperts, RowBucket);
    }

    /// <summary>x: [B, T, H] → [B, T, H], routed by the router.</summary>
    public override Tensor forward(Tensor x) => Forward(x, null, null);

    /// <summary>x: [B, T, H] → [B, T, H].</summary>
    /// <param name="replay">Routing replay (R3): the experts [N · k] (rows in the order of the flattened input) to use
    /// instead of the router's own choice — the router still weighs them, so its gradient flows. Null routes normally.</param>
    /// <param name="record">When given, receives the experts [N · k] this forward used.</param>
    public Tensor Forward(Tensor x, int[]? replay, int[]? record)
    {
        using var scope = NewDisposeScope();
        var shape = x.shape;
        long h = shape[^1];
        var flat = x.reshape(-1, h);
        long n = flat.shape[0];
        int k = _config.NumExpertsPerTok;
        var (indices, weights) = replay is null ? Gate.forward(flat) : Replay(flat, replay);
        var chosen = new int[n * k];
        using (var ids = indices.to(ScalarType.Int32).contiguous()) ids.data<int>().CopyTo(chosen);
        if (record is not null)
        {
            if (record.Length != n * k) throw new ArgumentException($"the routing to record into holds {record.Length / k} rows, the input has {n}");
            chosen.CopyTo(record);
        }
        _dispatch.Plan(chosen, k);
        LastLoad = _dispatch.Counts;
        // Every expert's rows gathered in one pass, expert after expert; padding rows read a zero row past the tokens
        // and carry a zero weight past the slots, so they add nothing.
        var tokenOfRow = tensor(_dispatch.TokenOfRow);
        var rows = cat([flat, zeros(1, h)]).index_select(0, tokenOfRow);
        var weightOfRow = cat([weights.reshape(-1), zeros(1)]).index_select(0, tensor(_dispatch.SlotOfRow)).unsqueeze(1);
        var blocks = rows.split(Array.ConvertAll(_dispatch.Rows, r => (long)r));   // split, not narrow: its backward is one cat
        var outputs = new List<Tensor>(_experts.Length);
        for (int e = 0; e < _experts.Length; e++)
            if (_dispatch.Rows[e] > 0) outputs.Add(_experts[e].forward(blocks[e]));
        // One index_add in row order adds a token's experts in ascending expert order, as one add per expert did.
        var output = zeros(n + 1, h).index_add(0, tokenOfRow, cat(outputs) * weightOfRow, 1.0).narrow(0, 0, n);
        return output.view(shape).MoveToOuterDisposeScope();
    }

    /// <summary>The replayed experts as indices [N, k] and their weights under the router's current scores.</summary>
    private (Tensor Indices, Tensor Weights) Replay(Tensor flat, int[] replay)
    {
        int k = _config.NumExpertsPerTok;
        var indices = tensor(replay, [replay.Length / k, k]).to(ScalarType.Int64);
        return (indices, Gate.WeightsFor(flat, indices));
    }
}

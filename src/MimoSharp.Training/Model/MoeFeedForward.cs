using MimoSharp.Config;
using static TorchSharp.torch;

namespace MimoSharp.Training.Model;

/// <summary>
/// Routed-expert FFN without shared experts (spec §5): y = Σ_selected w_e · Expert_e(x). Tokens are gathered per
/// expert, so each expert only computes the rows routed to it. The last forward's per-expert token counts are
/// kept in <see cref="LastLoad"/> for load balancing and statistics.
/// </summary>
public sealed class MoeFeedForward : nn.Module<Tensor, Tensor>
{
    private readonly MimoConfig _config;
    private readonly SwiGlu[] _experts;

    public TopKRouter Gate { get; }

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
        if (record is not null)
        {
            if (record.Length != n * k) throw new ArgumentException($"the routing to record into holds {record.Length / k} rows, the input has {n}");
            using var chosen = indices.to(ScalarType.Int32).contiguous();
            chosen.data<int>().CopyTo(record);
        }
        var expertOfSlot = indices.reshape(-1);                                       // [N*k]
        var tokenOfSlot = arange(n).repeat_interleave(k);                            // [N*k]
        var weightOfSlot = weights.reshape(-1);
        var counts = expertOfSlot.bincount(null, _config.NRoutedExperts).data<long>().ToArray();
        LastLoad = counts;
        var output = zeros_like(flat);
        for (int e = 0; e < _experts.Length; e++)
        {
            if (counts[e] == 0) continue;
            var slots = expertOfSlot.eq(e).nonzero().squeeze(1);
            var tokens = tokenOfSlot.index_select(0, slots);
            var y = _experts[e].forward(flat.index_select(0, tokens)) * weightOfSlot.index_select(0, slots).unsqueeze(1);
            output = output.index_add(0, tokens, y, 1.0);
        }
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

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

    /// <summary>
    /// Routing replay (R3): when set, the experts [N, k] (int64, rows in the order of the flattened input) that the
    /// next forwards use instead of the router's own choice; the router still weighs them. Null routes normally.
    /// </summary>
    public Tensor? ReplayIndices { get; set; }

    /// <summary>Whether <see cref="LastIndices"/> is kept (off by default: it holds a tensor per forward).</summary>
    public bool RecordIndices { get; set; }

    /// <summary>The experts [N, k] the last forward used, when <see cref="RecordIndices"/> is on.</summary>
    public Tensor? LastIndices { get; private set; }

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

    /// <summary>x: [B, T, H] → [B, T, H].</summary>
    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var shape = x.shape;
        long h = shape[^1];
        var flat = x.reshape(-1, h);
        long n = flat.shape[0];
        var (indices, weights) = ReplayIndices is { } replay ? (replay, Gate.WeightsFor(flat, replay)) : Gate.forward(flat);
        if (RecordIndices)
        {
            LastIndices?.Dispose();
            LastIndices = indices.detach().clone().DetachFromDisposeScope();
        }
        int k = _config.NumExpertsPerTok;
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
}

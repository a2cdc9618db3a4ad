using MimoSharp.Config;
using static TorchSharp.torch;

namespace MimoSharp.Training.Model;

/// <summary>
/// The noaux_tc sigmoid router (spec §5): s = sigmoid(x·Wgᵀ) in float32; experts are chosen by
/// s + e_score_correction_bias inside the top topk_group groups (group score = sum of its two best), and
/// weighted by the un-biased s, renormalised if norm_topk_prob, times routed_scaling_factor.
/// The correction bias is not trained by gradients: <see cref="BalanceStep"/> nudges it toward even load.
/// </summary>
public sealed class TopKRouter : nn.Module<Tensor, (Tensor Indices, Tensor Weights)>
{
    private readonly MimoConfig _config;

    public Parameter Weight { get; }

    /// <summary>e_score_correction_bias [E], float32; a buffer, saved with the weights.</summary>
    public Tensor CorrectionBias { get; }

    public TopKRouter(MimoConfig config) : base(nameof(TopKRouter))
    {
        _config = config;
        Weight = new Parameter(zeros(config.NRoutedExperts, config.HiddenSize));
        CorrectionBias = zeros(config.NRoutedExperts);
        register_parameter("weight", Weight);
        register_buffer("e_score_correction_bias", CorrectionBias);
    }

    /// <summary>x: [N, H] → selected expert ids [N, k] (by descending choice score) and their weights [N, k].</summary>
    public override (Tensor Indices, Tensor Weights) forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var c = _config;
        var scores = nn.functional.linear(x, Weight).sigmoid();      // float32 always (spec §5.1)
        Tensor choice;
        using (no_grad())
        {
            choice = scores + CorrectionBias;
            if (c.NGroup > 1)
            {
                long n = x.shape[0];
                var grouped = choice.view(n, c.NGroup, c.NRoutedExperts / c.NGroup);
                var groupScore = grouped.topk(2, -1).values.sum(-1);                       // [N, G]
                var keptGroups = groupScore.topk(c.TopkGroup, -1).indexes;                  // [N, topk_group]
                var keep = zeros(n, c.NGroup, dtype: ScalarType.Bool).scatter(1, keptGroups, ones_like(keptGroups, dtype: ScalarType.Bool));
                var keepExperts = keep.unsqueeze(-1).expand(n, c.NGroup, c.NRoutedExperts / c.NGroup).reshape(n, c.NRoutedExperts);
                choice = choice.masked_fill(keepExperts.logical_not(), float.NegativeInfinity);
            }
        }
        var indices = choice.topk(c.NumExpertsPerTok, -1).indexes;
        var weights = Weigh(scores, indices);
        indices.MoveToOuterDisposeScope();
        weights.MoveToOuterDisposeScope();
        return (indices, weights);
    }

    /// <summary>
    /// Routing replay (R3): the weights of experts chosen elsewhere (by the inference engine), computed from this
    /// router's current scores, so gradients still reach the gate. indices: [N, k] int64.
    /// </summary>
    public Tensor WeightsFor(Tensor x, Tensor indices)
    {
        if (indices.shape.Length != 2 || indices.shape[0] != x.shape[0] || indices.shape[1] != _config.NumExpertsPerTok)
            throw new ArgumentException($"replayed routing has shape [{string.Join(", ", indices.shape)}], expected [{x.shape[0]}, {_config.NumExpertsPerTok}]");
        using var scope = NewDisposeScope();
        var scores = nn.functional.linear(x, Weight).sigmoid();
        return Weigh(scores, indices).MoveToOuterDisposeScope();
    }

    /// <summary>The un-biased scores of the chosen experts, renormalised if norm_topk_prob, times routed_scaling_factor.</summary>
    private Tensor Weigh(Tensor scores, Tensor indices)
    {
        var weights = scores.gather(1, indices);
        if (_config.NormTopkProb) weights = weights / (weights.sum(-1, keepdim: true) + 1e-20);
        if (_config.RoutedScalingFactor != 1.0) weights = weights * _config.RoutedScalingFactor;
        return weights;
    }

    /// <summary>
    /// Auxiliary-loss-free balancing (DeepSeek-V3 §2.1.2): after a step, raise the bias of every expert that got
    /// fewer tokens than the mean by γ and lower it for every expert that got more.
    /// </summary>
    public void BalanceStep(ReadOnlySpan<long> load, double gamma)
    {
        if (load.Length != _config.NRoutedExperts)
            throw new ArgumentException($"load has {load.Length} entries, expected n_routed_experts = {_config.NRoutedExperts}");
        double mean = 0;
        foreach (long l in load) mean += l;
        mean /= load.Length;
        var delta = new float[load.Length];
        for (int e = 0; e < load.Length; e++) delta[e] = (float)(gamma * Math.Sign(mean - load[e]));
        using var _ = no_grad();
        using var d = tensor(delta);
        CorrectionBias.add_(d);
    }
}

using MimoSharp.Config;
using MimoSharp.Tensors;

namespace MimoSharp.Model;

/// <summary>
/// MiMo's noaux_tc router (spec §5): sigmoid affinities, a correction bias used only to choose,
/// group-limited top-k (group score = sum of its two best biased scores), weights from the
/// un-biased affinities, optional renormalisation, then routed_scaling_factor.
/// </summary>
public sealed class TopKRouter
{
    private readonly WeightMatrix _gate;
    private readonly float[] _bias;
    private readonly int _experts, _topK, _groups, _topGroups;
    private readonly bool _normalize;
    private readonly float _scaling;

    public int Experts => _experts;
    public int TopK => _topK;
    public WeightMatrix Gate => _gate;

    internal TopKRouter(WeightLoader w, string prefix, MimoConfig cfg)
    {
        _experts = cfg.NRoutedExperts;
        _topK = cfg.NumExpertsPerTok;
        _groups = cfg.NGroup;
        _topGroups = cfg.TopkGroup;
        _normalize = cfg.NormTopkProb;
        _scaling = (float)cfg.RoutedScalingFactor;
        _gate = w.Matrix(prefix + "gate.weight", _experts, cfg.HiddenSize, quantizable: false);
        _bias = w.Vector(prefix + "gate.e_score_correction_bias", _experts);
    }

    /// <summary>Router logits for n rows: [n, E].</summary>
    public void Logits(ReadOnlySpan<float> x, Span<float> logits, int n) => MatMul.Compute(_gate, x, n, logits);

    /// <summary>
    /// Chooses experts for one row from its router logits. <paramref name="experts"/> receives the ids in
    /// descending choice score, <paramref name="weights"/> their routing weights.
    /// </summary>
    public void Route(ReadOnlySpan<float> logits, Span<int> experts, Span<float> weights)
    {
        Span<float> s = stackalloc float[_experts];
        Span<float> c = stackalloc float[_experts];
        for (int e = 0; e < _experts; e++)
        {
            s[e] = VectorMath.Sigmoid(logits[e]);
            c[e] = s[e] + _bias[e];
        }
        if (_groups > 1 && _topGroups < _groups)
        {
            int per = _experts / _groups;
            Span<float> groupScore = stackalloc float[_groups];
            for (int g = 0; g < _groups; g++)
            {
                float a = float.NegativeInfinity, b = float.NegativeInfinity;
                for (int e = g * per; e < (g + 1) * per; e++)
                {
                    float v = c[e];
                    if (v > a) { b = a; a = v; }
                    else if (v > b) b = v;
                }
                groupScore[g] = a + b;
            }
            Span<bool> keep = stackalloc bool[_groups];
            for (int i = 0; i < _topGroups; i++)
            {
                int best = -1;
                for (int g = 0; g < _groups; g++)
                    if (!keep[g] && (best < 0 || groupScore[g] > groupScore[best])) best = g;
                keep[best] = true;
            }
            for (int g = 0; g < _groups; g++)
                if (!keep[g])
                    c.Slice(g * per, per).Fill(float.NegativeInfinity);
        }

        Span<bool> taken = stackalloc bool[_experts];
        float sum = 0f;
        for (int i = 0; i < _topK; i++)
        {
            int best = -1;
            for (int e = 0; e < _experts; e++)
                if (!taken[e] && (best < 0 || c[e] > c[best])) best = e;
            taken[best] = true;
            experts[i] = best;
            weights[i] = s[best];
            sum += s[best];
        }
        float norm = _normalize ? 1f / (sum + 1e-20f) : 1f;
        for (int i = 0; i < _topK; i++) weights[i] = weights[i] * norm * _scaling;
    }
}

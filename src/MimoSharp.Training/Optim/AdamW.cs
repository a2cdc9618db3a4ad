using static TorchSharp.torch;

namespace MimoSharp.Training.Optim;

/// <summary>
/// AdamW (Loshchilov &amp; Hutter) on float32 master weights, with decoupled weight decay on matrices only
/// (norm weights and sink logits are not decayed). Its whole state — step count, first and second moments —
/// is exposed so a checkpoint can restore it exactly.
/// </summary>
public sealed class AdamW
{
    private readonly (string Name, Parameter Param, bool Decay)[] _params;

    public double Beta1 { get; init; } = 0.9;
    public double Beta2 { get; init; } = 0.95;
    public double Eps { get; init; } = 1e-8;
    public double WeightDecay { get; init; } = 0.1;
    public long Step { get; set; }

    /// <summary>First moments by parameter name.</summary>
    public Dictionary<string, Tensor> M { get; } = new(StringComparer.Ordinal);

    /// <summary>Second moments by parameter name.</summary>
    public Dictionary<string, Tensor> V { get; } = new(StringComparer.Ordinal);

    public AdamW(IEnumerable<(string Name, Parameter Param)> parameters)
    {
        _params = parameters.Select(p => (p.Name, p.Param, p.Param.dim() >= 2)).ToArray();
        foreach (var (name, p, _) in _params)
        {
            M[name] = zeros_like(p).DetachFromDisposeScope();
            V[name] = zeros_like(p).DetachFromDisposeScope();
        }
    }

    public void ZeroGrad()
    {
        foreach (var (_, p, _) in _params) p.grad?.zero_();
    }

    /// <summary>Scales gradients so their global L2 norm is at most <paramref name="maxNorm"/>; returns the norm before clipping.</summary>
    public double ClipGradNorm(double maxNorm)
    {
        using var _ = no_grad();
        double sum = 0;
        foreach (var (_, p, _) in _params)
            if (p.grad is { } g)
                sum += g.square().sum().item<float>();
        double norm = Math.Sqrt(sum);
        if (maxNorm > 0 && norm > maxNorm)
        {
            double scale = maxNorm / (norm + 1e-6);
            foreach (var (_, p, _) in _params) p.grad?.mul_(scale);
        }
        return norm;
    }

    public void Update(double lr)
    {
        using var _ = no_grad();
        Step++;
        double bias1 = 1 - Math.Pow(Beta1, Step), bias2 = 1 - Math.Pow(Beta2, Step);
        foreach (var (name, p, decay) in _params)
        {
            // A parameter without a gradient buffer (an expert no token reached yet) steps as if its gradient were
            // zero: its moments still decay. Gradient buffers are not checkpointed, so skipping it instead would make
            // the first step after a resume differ from the uninterrupted run's.
            var g = p.grad;
            using var scope = NewDisposeScope();
            var m = M[name];
            var v = V[name];
            m.mul_(Beta1);
            v.mul_(Beta2);
            if (g is not null)
            {
                m.add_(g, alpha: 1 - Beta1);
                v.addcmul_(g, g, value: 1 - Beta2);
            }
            if (decay && WeightDecay > 0) p.mul_(1 - lr * WeightDecay);
            var denominator = (v / bias2).sqrt_().add_(Eps);
            p.addcdiv_(m, denominator, value: -lr / bias1);
        }
    }
}

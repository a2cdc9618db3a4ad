using static TorchSharp.torch;

namespace MimoSharp.Training.Model;

/// <summary>y = x / sqrt(mean(x²) + eps) · weight, in float32, no offset, no bias (spec §2).</summary>
public sealed class RmsNorm : nn.Module<Tensor, Tensor>
{
    private readonly double _eps;
    public Parameter Weight { get; }

    public RmsNorm(int size, double eps) : base(nameof(RmsNorm))
    {
        _eps = eps;
        Weight = new Parameter(ones(size));
        register_parameter("weight", Weight);
    }

    public override Tensor forward(Tensor x)
    {
        using var meanSquare = x.square().mean([-1L], keepdim: true);
        using var inv = (meanSquare + _eps).rsqrt_();
        using var normed = x * inv;
        return normed * Weight;
    }
}

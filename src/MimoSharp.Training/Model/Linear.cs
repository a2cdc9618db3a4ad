using TorchSharp;
using static TorchSharp.torch;

namespace MimoSharp.Training.Model;

/// <summary>
/// y = x · Wᵀ with W stored [out, in] and no bias (spec §2). The float32 weight is the master copy; with a
/// bfloat16 compute dtype the matmul runs in bf16 and the result comes back as float32.
/// </summary>
public sealed class Linear : nn.Module<Tensor, Tensor>
{
    public Parameter Weight { get; }
    public int InFeatures { get; }
    public int OutFeatures { get; }

    public Linear(int inFeatures, int outFeatures) : base(nameof(Linear))
    {
        InFeatures = inFeatures;
        OutFeatures = outFeatures;
        Weight = new Parameter(zeros(outFeatures, inFeatures));
        register_parameter("weight", Weight);
    }

    public override Tensor forward(Tensor x)
    {
        if (ComputePrecision.DType == ScalarType.Float32) return nn.functional.linear(x, Weight);
        using var xc = x.to(ComputePrecision.DType);
        using var wc = Weight.to(ComputePrecision.DType);
        using var y = nn.functional.linear(xc, wc);
        return y.to(ScalarType.Float32);
    }
}

/// <summary>The dtype matmuls run in: float32 (exact, used for checks and evaluation) or bfloat16 (faster training).</summary>
public static class ComputePrecision
{
    [ThreadStatic] private static ScalarType? _dtype;

    public static ScalarType DType => _dtype ?? ScalarType.Float32;

    /// <summary>Runs matmuls in <paramref name="dtype"/> until the returned scope is disposed.</summary>
    public static IDisposable Use(ScalarType dtype)
    {
        var previous = _dtype;
        _dtype = dtype;
        return new Restore(previous);
    }

    private sealed class Restore(ScalarType? previous) : IDisposable
    {
        public void Dispose() => _dtype = previous;
    }
}

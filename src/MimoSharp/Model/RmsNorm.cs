using MimoSharp.Tensors;

namespace MimoSharp.Model;

/// <summary>RMSNorm with a learned weight (spec §2): x / sqrt(mean(x²) + eps) * weight.</summary>
public sealed class RmsNorm(float[] weight, float eps)
{
    public int Size => weight.Length;

    public void Apply(ReadOnlySpan<float> x, Span<float> y) => VectorMath.RmsNorm(x, weight, eps, y);

    /// <summary>Normalises each of <paramref name="n"/> rows of width <see cref="Size"/>.</summary>
    public void ApplyRows(ReadOnlySpan<float> x, Span<float> y, int n)
    {
        int d = weight.Length;
        for (int t = 0; t < n; t++) VectorMath.RmsNorm(x.Slice(t * d, d), weight, eps, y.Slice(t * d, d));
    }
}

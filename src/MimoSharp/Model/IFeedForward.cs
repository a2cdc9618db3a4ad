using MimoSharp.Tensors;

namespace MimoSharp.Model;

/// <summary>The FFN half of a block: dense SwiGLU or a routed mixture of SwiGLU experts.</summary>
public interface IFeedForward
{
    /// <summary>Computes the FFN of <paramref name="n"/> normalised rows <paramref name="x"/> into <paramref name="y"/> (both [n, H]).</summary>
    void Forward(ReadOnlySpan<float> x, Span<float> y, int n);

    IEnumerable<WeightMatrix> Weights { get; }

    /// <summary>Weight bytes one token reads (all of them for dense, the chosen experts' for MoE).</summary>
    long ActiveBytesPerToken { get; }
}

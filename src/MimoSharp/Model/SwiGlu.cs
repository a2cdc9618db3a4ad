using System.Buffers;
using MimoSharp.Tensors;

namespace MimoSharp.Model;

/// <summary>SwiGLU FFN: down( silu(gate(x)) * up(x) ). Used for dense layers, MTP layers and each expert.</summary>
public sealed class SwiGlu : IFeedForward
{
    private readonly WeightMatrix _gate, _up, _down;

    public int HiddenSize { get; }
    public int IntermediateSize { get; }

    internal SwiGlu(WeightLoader w, string prefix, int hidden, int intermediate)
    {
        HiddenSize = hidden;
        IntermediateSize = intermediate;
        _gate = w.Matrix(prefix + "gate_proj.weight", intermediate, hidden);
        _up = w.Matrix(prefix + "up_proj.weight", intermediate, hidden);
        _down = w.Matrix(prefix + "down_proj.weight", hidden, intermediate);
    }

    public IEnumerable<WeightMatrix> Weights => [_gate, _up, _down];

    public long ActiveBytesPerToken => _gate.StoredBytes + _up.StoredBytes + _down.StoredBytes;

    public void Forward(ReadOnlySpan<float> x, Span<float> y, int n)
    {
        var pool = ArrayPool<float>.Shared;
        float[] g = pool.Rent(n * IntermediateSize), u = pool.Rent(n * IntermediateSize);
        try
        {
            MatMul.Compute(_gate, x, n, g);
            MatMul.Compute(_up, x, n, u);
            VectorMath.SiluMultiply(g.AsSpan(0, n * IntermediateSize), u.AsSpan(0, n * IntermediateSize));
            MatMul.Compute(_down, g, n, y);
        }
        finally
        {
            pool.Return(g);
            pool.Return(u);
        }
    }
}

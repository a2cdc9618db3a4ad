using static TorchSharp.torch;

namespace MimoSharp.Training.Model;

/// <summary>
/// Rotary embedding on the first <c>rd</c> dims of every q/k head, NeoX "rotate-half" pairing (spec §4):
/// x'[f] = x[f]·cos − x[f+rd/2]·sin, x'[f+rd/2] = x[f+rd/2]·cos + x[f]·sin; dims rd.. pass through.
/// </summary>
public sealed class PartialRope
{
    public int RotaryDim { get; }
    private readonly double _theta;
    private Tensor? _cos, _sin;   // [maxT, rd/2] float32, computed in float64

    public PartialRope(int rotaryDim, double theta)
    {
        RotaryDim = rotaryDim;
        _theta = theta;
    }

    private (Tensor Cos, Tensor Sin) Tables(int length)
    {
        if (_cos is null || _cos.shape[0] < length)
        {
            _cos?.Dispose();
            _sin?.Dispose();
            int half = RotaryDim / 2;
            var cos = new float[length * half];
            var sin = new float[length * half];
            for (int p = 0; p < length; p++)
                for (int f = 0; f < half; f++)
                {
                    double angle = p * Math.Pow(_theta, -(2.0 * f) / RotaryDim);
                    cos[p * half + f] = (float)Math.Cos(angle);
                    sin[p * half + f] = (float)Math.Sin(angle);
                }
            _cos = tensor(cos, [length, half]).DetachFromDisposeScope();
            _sin = tensor(sin, [length, half]).DetachFromDisposeScope();
        }
        return (_cos, _sin!);
    }

    /// <summary>x: [B, heads, T, head_dim] at positions 0..T-1.</summary>
    public Tensor Apply(Tensor x)
    {
        if (RotaryDim == 0) return x.alias();
        int t = (int)x.shape[2], half = RotaryDim / 2;
        long headDim = x.shape[3];
        var (cosAll, sinAll) = Tables(t);
        using var cos = cosAll.narrow(0, 0, t);
        using var sin = sinAll.narrow(0, 0, t);
        using var x1 = x.narrow(-1, 0, half);
        using var x2 = x.narrow(-1, half, half);
        using var r1 = x1 * cos - x2 * sin;
        using var r2 = x2 * cos + x1 * sin;
        if (RotaryDim == headDim) return cat([r1, r2], -1);
        using var pass = x.narrow(-1, RotaryDim, headDim - RotaryDim);
        return cat([r1, r2, pass], -1);
    }
}

namespace MimoSharp.Model;

/// <summary>
/// Rotary position embedding on the first <c>rotaryDim</c> dims of each head, rotate-half (NeoX)
/// pairing (spec §4). Angles are computed in double precision from absolute positions.
/// </summary>
public sealed class PartialRope
{
    private readonly double[] _invFreq;

    public int RotaryDim { get; }
    public int HeadDim { get; }

    public PartialRope(int headDim, int rotaryDim, double theta)
    {
        if (rotaryDim % 2 != 0 || rotaryDim > headDim)
            throw new ArgumentException($"rotary dim {rotaryDim} must be even and at most head_dim {headDim}");
        HeadDim = headDim;
        RotaryDim = rotaryDim;
        _invFreq = new double[rotaryDim / 2];
        for (int f = 0; f < _invFreq.Length; f++) _invFreq[f] = Math.Pow(theta, -(2.0 * f) / rotaryDim);
    }

    /// <summary>Rotates every head of one token's q or k vector (<paramref name="heads"/> × head_dim) in place.</summary>
    public void Apply(Span<float> vec, int heads, int position)
    {
        int half = RotaryDim / 2;
        Span<float> cos = stackalloc float[half];
        Span<float> sin = stackalloc float[half];
        for (int f = 0; f < half; f++)
        {
            double a = position * _invFreq[f];
            cos[f] = (float)Math.Cos(a);
            sin[f] = (float)Math.Sin(a);
        }
        for (int h = 0; h < heads; h++)
        {
            var x = vec.Slice(h * HeadDim, HeadDim);
            for (int f = 0; f < half; f++)
            {
                float x1 = x[f], x2 = x[f + half];
                x[f] = x1 * cos[f] - x2 * sin[f];
                x[f + half] = x2 * cos[f] + x1 * sin[f];
            }
        }
    }
}

namespace MimoSharp.Tensors;

/// <summary>OCP FP8 e4m3fn: sign, 4-bit exponent (bias 7), 3-bit mantissa, no infinities, 0x7F/0xFF = NaN.</summary>
public static class Fp8E4M3
{
    /// <summary>All 256 byte values decoded once; kernels index it instead of decoding bit fields.</summary>
    public static readonly float[] Table = BuildTable();

    public static float ToFloat(byte b) => Table[b];

    private static float[] BuildTable()
    {
        var t = new float[256];
        for (int i = 0; i < 256; i++)
        {
            int sign = i >> 7, exp = (i >> 3) & 0xF, man = i & 0x7;
            double v;
            if (exp == 0xF && man == 0x7) v = double.NaN;
            else if (exp == 0) v = man / 8.0 * Math.Pow(2, -6);
            else v = (1 + man / 8.0) * Math.Pow(2, exp - 7);
            t[i] = (float)(sign == 1 ? -v : v);
        }
        return t;
    }

    /// <summary>Nearest e4m3 byte (round to nearest even, saturating at ±448); used when writing FP8 checkpoints.</summary>
    public static byte FromFloat(float f)
    {
        if (float.IsNaN(f)) return 0x7F;
        byte sign = (byte)(f < 0 || (f == 0 && float.IsNegative(f)) ? 0x80 : 0);
        float a = MathF.Abs(f);
        if (a >= 448f) return (byte)(sign | 0x7E);
        int best = 0;
        float bestErr = float.MaxValue;
        for (int i = 0; i < 0x7F; i++)
        {
            float err = MathF.Abs(Table[i] - a);
            if (err < bestErr || (err == bestErr && (i & 1) == 0)) { best = i; bestErr = err; }
        }
        return (byte)(sign | best);
    }
}

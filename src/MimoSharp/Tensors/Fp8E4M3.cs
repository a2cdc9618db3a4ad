using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace MimoSharp.Tensors;

/// <summary>OCP FP8 e4m3fn: sign, 4-bit exponent (bias 7), 3-bit mantissa, no infinities, 0x7F/0xFF = NaN.</summary>
public static class Fp8E4M3
{
    /// <summary>All 256 byte values decoded once; kernels index it instead of decoding bit fields.</summary>
    public static readonly float[] Table = BuildTable();

    public static float ToFloat(byte b) => Table[b];

    /// <summary>
    /// dst[i] = value(src[i]) · scale, bit-identical to the table: a byte sign-extended and shifted into a float32 is
    /// its value times 2^-120 (subnormals too), and 2^120 is exact; NaN codes are mapped to NaN.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void DecodeScaled(ReadOnlySpan<byte> src, float scale, Span<float> dst)
    {
        int i = 0;
        ref byte ps = ref MemoryMarshal.GetReference(src);
        ref float pd = ref MemoryMarshal.GetReference(dst);
        if (Vector256.IsHardwareAccelerated)
        {
            var mask = Vector256.Create(unchecked((int)0x87F00000));
            var nanCode = Vector256.Create(0x7F);
            var bias = Vector256.Create(1.329228e36f); // 2^120
            var s = Vector256.Create(scale);
            for (; i <= src.Length - 8; i += 8)
            {
                var b = Vector256.WidenLower(Vector128.CreateScalarUnsafe(Unsafe.ReadUnaligned<long>(ref Unsafe.Add(ref ps, i))).AsSByte().ToVector256Unsafe());
                var v = Vector256.WidenLower(b);
                var w = ((v << 20) & mask).AsSingle() * bias * s;
                w = Vector256.ConditionalSelect(Vector256.Equals(v & nanCode, nanCode).AsSingle(), Vector256.Create(float.NaN), w);
                w.StoreUnsafe(ref pd, (nuint)i);
            }
        }
        var table = Table;
        for (; i < src.Length; i++) Unsafe.Add(ref pd, i) = table[Unsafe.Add(ref ps, i)] * scale;
    }

    /// <summary>Whether any byte is one of the two NaN codes (0x7F, 0xFF): a corrupt weight the shift decode would read as ±480.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static bool HasNaN(ReadOnlySpan<byte> bytes)
    {
        int i = 0;
        ref byte p = ref MemoryMarshal.GetReference(bytes);
        if (Vector256.IsHardwareAccelerated)
        {
            var code = Vector256.Create((byte)0x7F);
            var found = Vector256<byte>.Zero;
            for (; i <= bytes.Length - 32; i += 32)
                found |= Vector256.Equals(Vector256.LoadUnsafe(ref p, (nuint)i) & code, code);
            if (found != Vector256<byte>.Zero) return true;
        }
        for (; i < bytes.Length; i++)
            if ((Unsafe.Add(ref p, i) & 0x7F) == 0x7F) return true;
        return false;
    }

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

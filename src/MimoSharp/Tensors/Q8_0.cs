using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace MimoSharp.Tensors;

/// <summary>
/// ggml's Q8_0 block format: 32 values as one float16 scale d followed by 32 signed bytes q, value = d·q
/// (34 bytes, the exact layout of ggml's block_q8_0). Activations are quantised the same way per 32-value block,
/// so a block's dot product is an integer sum scaled by d_w·d_x, as llama.cpp computes it; the kernel that does it
/// reads the weights repacked as <see cref="Q8_0Panel"/>.
/// </summary>
public static class Q8_0
{
    public const int BlockValues = 32;
    public const int BlockBytes = 34;

    public static int RowBytes(int cols) => (cols + BlockValues - 1) / BlockValues * BlockBytes;

    /// <summary>Quantises one row as ggml does (<see cref="QuantizeBlock"/> per 32 values); a ragged last block is zero-padded.</summary>
    public static void QuantizeRow(ReadOnlySpan<float> x, Span<byte> blocks)
    {
        int nb = (x.Length + BlockValues - 1) / BlockValues;
        for (int b = 0; b < nb; b++)
        {
            var block = blocks.Slice(b * BlockBytes, BlockBytes);
            int start = b * BlockValues;
            Half d = QuantizeBlock(x.Slice(start, Math.Min(BlockValues, x.Length - start)), MemoryMarshal.Cast<byte, sbyte>(block[2..]));
            MemoryMarshal.Write(block, in d);
        }
    }

    /// <summary>
    /// ggml's rule (its vectorised quantiser), so our Q8_0 products equal llama.cpp's: q = round-half-even(x / d) with
    /// d = max|x| / 127 unrounded, returned as the f16 that is stored; values past x's end are zero.
    /// </summary>
    public static Half QuantizeBlock(ReadOnlySpan<float> x, Span<sbyte> q)
    {
        if (x.Length == BlockValues && Vector256.IsHardwareAccelerated) return QuantizeFullBlock(x, q);
        float amax = 0;
        for (int i = 0; i < x.Length; i++) amax = MathF.Max(amax, MathF.Abs(x[i]));
        float d = amax / 127f;
        float inv = d != 0 ? 1f / d : 0f;
        for (int i = 0; i < BlockValues; i++)
            q[i] = i < x.Length ? (sbyte)Math.Clamp((int)MathF.Round(x[i] * inv, MidpointRounding.ToEven), -127, 127) : (sbyte)0;
        return (Half)d;
    }

    /// <summary>The same rule on a whole block with SIMD (activations are quantised once per matrix product).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Half QuantizeFullBlock(ReadOnlySpan<float> x, Span<sbyte> q)
    {
        ref float px = ref MemoryMarshal.GetReference(x);
        var v0 = Vector256.LoadUnsafe(ref px);
        var v1 = Vector256.LoadUnsafe(ref px, 8);
        var v2 = Vector256.LoadUnsafe(ref px, 16);
        var v3 = Vector256.LoadUnsafe(ref px, 24);
        var m = Vector256.Max(Vector256.Max(Vector256.Abs(v0), Vector256.Abs(v1)), Vector256.Max(Vector256.Abs(v2), Vector256.Abs(v3)));
        var m128 = Vector128.Max(m.GetLower(), m.GetUpper());
        float amax = MathF.Max(MathF.Max(m128[0], m128[1]), MathF.Max(m128[2], m128[3]));
        float d = amax / 127f;
        var inv = Vector256.Create(d != 0 ? 1f / d : 0f);
        var lo = Vector256.Narrow(Quantize(v0, inv), Quantize(v1, inv));
        var hi = Vector256.Narrow(Quantize(v2, inv), Quantize(v3, inv));
        Vector256.Narrow(lo, hi).StoreUnsafe(ref MemoryMarshal.GetReference(q));
        return (Half)d;
    }

    /// <summary>round-half-even(x·inv) clamped to ±127, as int32 (Round is the SIMD nearest-even rounding).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> Quantize(Vector256<float> x, Vector256<float> inv) =>
        Vector256.ConvertToInt32(Vector256.Clamp(Vector256.Round(x * inv), Vector256.Create(-127f), Vector256.Create(127f)));

    public static void DequantizeRow(ReadOnlySpan<byte> blocks, Span<float> x)
    {
        int nb = (x.Length + BlockValues - 1) / BlockValues;
        for (int b = 0; b < nb; b++)
        {
            var block = blocks.Slice(b * BlockBytes, BlockBytes);
            float d = (float)MemoryMarshal.Read<Half>(block);
            var q = MemoryMarshal.Cast<byte, sbyte>(block[2..]);
            int start = b * BlockValues, len = Math.Min(BlockValues, x.Length - start);
            for (int i = 0; i < len; i++) x[start + i] = d * q[i];
        }
    }
}

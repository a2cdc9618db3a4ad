using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace MimoSharp.Tensors;

/// <summary>The 16-bit float formats a buffer of activations can be stored in (KV cache storage).</summary>
public enum HalfFormat
{
    /// <summary>bfloat16: float32's 8-bit exponent, 7 mantissa bits (range of float32, ~3 significant digits).</summary>
    BF16,

    /// <summary>IEEE binary16: 5-bit exponent (±65504), 10 mantissa bits.</summary>
    F16,
}

/// <summary>
/// Rows of float32 stored as 16-bit floats and read back: encode rounds to nearest even; decode is exact and
/// vectorised (it sits in the attention kernels' inner loop when the KV cache is 16-bit).
/// </summary>
public static class HalfFloats
{
    /// <summary>dst = src rounded to <paramref name="format"/>, as 16-bit patterns.</summary>
    public static void Encode(ReadOnlySpan<float> src, Span<ushort> dst, HalfFormat format)
    {
        if (dst.Length < src.Length) throw new ArgumentException("destination is shorter than the source", nameof(dst));
        if (format == HalfFormat.BF16)
            for (int i = 0; i < src.Length; i++) dst[i] = BFloat16.FromFloat(src[i]);
        else
            for (int i = 0; i < src.Length; i++) dst[i] = BitConverter.HalfToUInt16Bits(ToHalf(src[i]));
    }

    /// <summary>The largest finite binary16 value.</summary>
    public const float F16Max = 65504f;

    /// <summary>
    /// x as binary16, refusing finite values beyond its range: they would become infinities, and an infinite key turns
    /// attention scores into NaN-driven garbage instead of an error.
    /// </summary>
    private static Half ToHalf(float x)
    {
        if (Math.Abs(x) > F16Max && float.IsFinite(x))
            throw new OverflowException($"{x} is beyond the f16 range (±{F16Max}): this model's activations need a bf16 or f32 KV cache (--kv-cache bf16)");
        return (Half)x;
    }

    /// <summary>x = x rounded to <paramref name="format"/> and back: the value a 16-bit store would give.</summary>
    public static void Round(Span<float> x, HalfFormat format)
    {
        if (format == HalfFormat.BF16)
            for (int i = 0; i < x.Length; i++) x[i] = BFloat16.ToFloat(BFloat16.FromFloat(x[i]));
        else
            for (int i = 0; i < x.Length; i++) x[i] = (float)ToHalf(x[i]);
    }

    /// <summary>dst = the float32 values of the 16-bit patterns in src (exact).</summary>
    public static void Decode(ReadOnlySpan<ushort> src, Span<float> dst, HalfFormat format)
    {
        if (dst.Length < src.Length) throw new ArgumentException("destination is shorter than the source", nameof(dst));
        Decode(ref MemoryMarshal.GetReference(src), ref MemoryMarshal.GetReference(dst), src.Length, format);
    }

    /// <summary><see cref="Decode(ReadOnlySpan{ushort}, Span{float}, HalfFormat)"/> on references, unchecked (kernels).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void Decode(ref ushort src, ref float dst, int n, HalfFormat format)
    {
        int i = 0;
        if (format == HalfFormat.BF16)
        {
            // bfloat16 is float32's top half: widen and shift.
            for (; i <= n - 8; i += 8)
            {
                var wide = Vector256.WidenLower(Vector128.LoadUnsafe(ref src, (nuint)i).ToVector256Unsafe());
                Vector256.ShiftLeft(wide.AsUInt32(), 16).AsSingle().StoreUnsafe(ref dst, (nuint)i);
            }
            for (; i < n; i++) Unsafe.Add(ref dst, i) = BitConverter.Int32BitsToSingle(Unsafe.Add(ref src, i) << 16);
            return;
        }
        // binary16: the exponent and mantissa moved into float32's bit positions read as a float32 2^112 too small
        // (normals and subnormals alike, exactly); multiply by 2^112, restore inf/NaN and the sign.
        var magic = Vector256.Create(0x77800000u).AsSingle();
        var infinityBits = Vector256.Create(0x7C00u << 13);
        for (; i <= n - 8; i += 8)
        {
            var h = Vector256.WidenLower(Vector128.LoadUnsafe(ref src, (nuint)i).ToVector256Unsafe()).AsUInt32();
            var magnitude = Vector256.ShiftLeft(h & Vector256.Create(0x7FFFu), 13);
            var value = magnitude.AsSingle() * magic;
            var special = Vector256.GreaterThanOrEqual(magnitude, infinityBits);
            var bits = Vector256.ConditionalSelect(special, magnitude | Vector256.Create(0x7F800000u), value.AsUInt32());
            (bits | Vector256.ShiftLeft(h & Vector256.Create(0x8000u), 16)).AsSingle().StoreUnsafe(ref dst, (nuint)i);
        }
        for (; i < n; i++) Unsafe.Add(ref dst, i) = (float)BitConverter.UInt16BitsToHalf(Unsafe.Add(ref src, i));
    }
}

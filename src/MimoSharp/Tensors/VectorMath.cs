using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace MimoSharp.Tensors;

/// <summary>
/// SIMD primitives on float spans. Every reduction has one fixed order for a given length, so a
/// row's result never depends on what else was computed beside it (batch invariance).
/// </summary>
public static class VectorMath
{
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static float Dot(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        if (a.Length != b.Length) throw new ArgumentException("Dot: length mismatch");
        ref float pa = ref MemoryMarshal.GetReference(a);
        ref float pb = ref MemoryMarshal.GetReference(b);
        int n = a.Length, i = 0;
        float sum;
        if (Vector256.IsHardwareAccelerated && n >= 32)
        {
            var s0 = Vector256<float>.Zero;
            var s1 = Vector256<float>.Zero;
            var s2 = Vector256<float>.Zero;
            var s3 = Vector256<float>.Zero;
            for (; i <= n - 32; i += 32)
            {
                s0 = Vector256.FusedMultiplyAdd(Vector256.LoadUnsafe(ref pa, (nuint)i), Vector256.LoadUnsafe(ref pb, (nuint)i), s0);
                s1 = Vector256.FusedMultiplyAdd(Vector256.LoadUnsafe(ref pa, (nuint)(i + 8)), Vector256.LoadUnsafe(ref pb, (nuint)(i + 8)), s1);
                s2 = Vector256.FusedMultiplyAdd(Vector256.LoadUnsafe(ref pa, (nuint)(i + 16)), Vector256.LoadUnsafe(ref pb, (nuint)(i + 16)), s2);
                s3 = Vector256.FusedMultiplyAdd(Vector256.LoadUnsafe(ref pa, (nuint)(i + 24)), Vector256.LoadUnsafe(ref pb, (nuint)(i + 24)), s3);
            }
            for (; i <= n - 8; i += 8)
                s0 = Vector256.FusedMultiplyAdd(Vector256.LoadUnsafe(ref pa, (nuint)i), Vector256.LoadUnsafe(ref pb, (nuint)i), s0);
            sum = Vector256.Sum((s0 + s1) + (s2 + s3));
        }
        else
        {
            sum = 0f;
        }
        for (; i < n; i++) sum = MathF.FusedMultiplyAdd(Unsafe.Add(ref pa, i), Unsafe.Add(ref pb, i), sum);
        return sum;
    }

    /// <summary>
    /// Rearranges float32 values for <see cref="DotBf16"/>: within each block of 16, the 8 even-indexed values
    /// then the 8 odd-indexed ones; a tail shorter than 16 stays in place.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void InterleaveForBf16(ReadOnlySpan<float> x, Span<float> arranged)
    {
        int blocks = x.Length / 16;
        for (int b = 0; b < blocks; b++)
        {
            int o = b * 16;
            for (int i = 0; i < 8; i++)
            {
                arranged[o + i] = x[o + 2 * i];
                arranged[o + 8 + i] = x[o + 2 * i + 1];
            }
        }
        x[(blocks * 16)..].CopyTo(arranged[(blocks * 16)..]);
    }

    /// <summary>
    /// Dot product of a bfloat16 row with values arranged by <see cref="InterleaveForBf16"/>. Eight bf16 pairs
    /// load as eight 32-bit lanes: shifting left by 16 gives the even elements as float32, masking the low half
    /// gives the odd ones, so no widening shuffles are needed. Every BF16 product in the engine goes through
    /// here, so one row gives the same bits in any batch.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static float DotBf16(ReadOnlySpan<ushort> w, ReadOnlySpan<float> arranged)
    {
        if (w.Length != arranged.Length) throw new ArgumentException("DotBf16: length mismatch");
        ref uint pw = ref Unsafe.As<ushort, uint>(ref MemoryMarshal.GetReference(w));
        ref float px = ref MemoryMarshal.GetReference(arranged);
        int n = w.Length, i = 0;
        float sum = 0f;
        if (Vector256.IsHardwareAccelerated && n >= 16)
        {
            var mask = Vector256.Create(0xFFFF0000u);
            var s0 = Vector256<float>.Zero;
            var s1 = Vector256<float>.Zero;
            var s2 = Vector256<float>.Zero;
            var s3 = Vector256<float>.Zero;
            for (; i <= n - 32; i += 32)
            {
                var u0 = Vector256.LoadUnsafe(ref pw, (nuint)(i / 2));
                var u1 = Vector256.LoadUnsafe(ref pw, (nuint)(i / 2 + 8));
                s0 = Vector256.FusedMultiplyAdd(Vector256.ShiftLeft(u0, 16).AsSingle(), Vector256.LoadUnsafe(ref px, (nuint)i), s0);
                s1 = Vector256.FusedMultiplyAdd((u0 & mask).AsSingle(), Vector256.LoadUnsafe(ref px, (nuint)(i + 8)), s1);
                s2 = Vector256.FusedMultiplyAdd(Vector256.ShiftLeft(u1, 16).AsSingle(), Vector256.LoadUnsafe(ref px, (nuint)(i + 16)), s2);
                s3 = Vector256.FusedMultiplyAdd((u1 & mask).AsSingle(), Vector256.LoadUnsafe(ref px, (nuint)(i + 24)), s3);
            }
            for (; i <= n - 16; i += 16)
            {
                var u = Vector256.LoadUnsafe(ref pw, (nuint)(i / 2));
                s0 = Vector256.FusedMultiplyAdd(Vector256.ShiftLeft(u, 16).AsSingle(), Vector256.LoadUnsafe(ref px, (nuint)i), s0);
                s1 = Vector256.FusedMultiplyAdd((u & mask).AsSingle(), Vector256.LoadUnsafe(ref px, (nuint)(i + 8)), s1);
            }
            sum = Vector256.Sum((s0 + s1) + (s2 + s3));
        }
        else
        {
            // Portable path with the same block order as the vector path.
            for (; i <= n - 16; i += 16)
            {
                for (int j = 0; j < 8; j++)
                {
                    uint u = Unsafe.Add(ref pw, i / 2 + j);
                    sum = MathF.FusedMultiplyAdd(BitConverter.UInt32BitsToSingle(u << 16), Unsafe.Add(ref px, i + j), sum);
                    sum = MathF.FusedMultiplyAdd(BitConverter.UInt32BitsToSingle(u & 0xFFFF0000u), Unsafe.Add(ref px, i + 8 + j), sum);
                }
            }
        }
        ref ushort ph = ref MemoryMarshal.GetReference(w);
        for (; i < n; i++) sum = MathF.FusedMultiplyAdd(BitConverter.Int32BitsToSingle(Unsafe.Add(ref ph, i) << 16), Unsafe.Add(ref px, i), sum);
        return sum;
    }

    /// <summary>
    /// <see cref="DotBf16"/> of one bfloat16 row with four arranged inputs at once (<paramref name="x"/> holds them
    /// <paramref name="stride"/> floats apart), into y[0], y[stride2], y[2·stride2], y[3·stride2]: the row is decoded
    /// once per 32 weights and serves all four, while each input's sums take exactly the operations, in the same
    /// order, of <see cref="DotBf16"/> (so a row of a batch has the bits it has alone). Vector hardware only.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static unsafe void DotBf16x4(ReadOnlySpan<ushort> w, float* x, int stride, float* y, long stride2)
    {
        ref uint pw = ref Unsafe.As<ushort, uint>(ref MemoryMarshal.GetReference(w));
        int n = w.Length, i = 0;
        float* x0 = x, x1 = x + stride, x2 = x + 2 * stride, x3 = x + 3 * stride;
        var mask = Vector256.Create(0xFFFF0000u);
        Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default;
        Vector256<float> b0 = default, b1 = default, b2 = default, b3 = default;
        Vector256<float> c0 = default, c1 = default, c2 = default, c3 = default;
        Vector256<float> d0 = default, d1 = default, d2 = default, d3 = default;
        for (; i <= n - 32; i += 32)
        {
            var u0 = Vector256.LoadUnsafe(ref pw, (nuint)(i / 2));
            var u1 = Vector256.LoadUnsafe(ref pw, (nuint)(i / 2 + 8));
            var w0 = Vector256.ShiftLeft(u0, 16).AsSingle();
            var w1 = (u0 & mask).AsSingle();
            var w2 = Vector256.ShiftLeft(u1, 16).AsSingle();
            var w3 = (u1 & mask).AsSingle();
            a0 = Vector256.FusedMultiplyAdd(w0, Vector256.Load(x0 + i), a0);
            a1 = Vector256.FusedMultiplyAdd(w1, Vector256.Load(x0 + i + 8), a1);
            a2 = Vector256.FusedMultiplyAdd(w2, Vector256.Load(x0 + i + 16), a2);
            a3 = Vector256.FusedMultiplyAdd(w3, Vector256.Load(x0 + i + 24), a3);
            b0 = Vector256.FusedMultiplyAdd(w0, Vector256.Load(x1 + i), b0);
            b1 = Vector256.FusedMultiplyAdd(w1, Vector256.Load(x1 + i + 8), b1);
            b2 = Vector256.FusedMultiplyAdd(w2, Vector256.Load(x1 + i + 16), b2);
            b3 = Vector256.FusedMultiplyAdd(w3, Vector256.Load(x1 + i + 24), b3);
            c0 = Vector256.FusedMultiplyAdd(w0, Vector256.Load(x2 + i), c0);
            c1 = Vector256.FusedMultiplyAdd(w1, Vector256.Load(x2 + i + 8), c1);
            c2 = Vector256.FusedMultiplyAdd(w2, Vector256.Load(x2 + i + 16), c2);
            c3 = Vector256.FusedMultiplyAdd(w3, Vector256.Load(x2 + i + 24), c3);
            d0 = Vector256.FusedMultiplyAdd(w0, Vector256.Load(x3 + i), d0);
            d1 = Vector256.FusedMultiplyAdd(w1, Vector256.Load(x3 + i + 8), d1);
            d2 = Vector256.FusedMultiplyAdd(w2, Vector256.Load(x3 + i + 16), d2);
            d3 = Vector256.FusedMultiplyAdd(w3, Vector256.Load(x3 + i + 24), d3);
        }
        for (; i <= n - 16; i += 16)
        {
            var u = Vector256.LoadUnsafe(ref pw, (nuint)(i / 2));
            var w0 = Vector256.ShiftLeft(u, 16).AsSingle();
            var w1 = (u & mask).AsSingle();
            a0 = Vector256.FusedMultiplyAdd(w0, Vector256.Load(x0 + i), a0);
            a1 = Vector256.FusedMultiplyAdd(w1, Vector256.Load(x0 + i + 8), a1);
            b0 = Vector256.FusedMultiplyAdd(w0, Vector256.Load(x1 + i), b0);
            b1 = Vector256.FusedMultiplyAdd(w1, Vector256.Load(x1 + i + 8), b1);
            c0 = Vector256.FusedMultiplyAdd(w0, Vector256.Load(x2 + i), c0);
            c1 = Vector256.FusedMultiplyAdd(w1, Vector256.Load(x2 + i + 8), c1);
            d0 = Vector256.FusedMultiplyAdd(w0, Vector256.Load(x3 + i), d0);
            d1 = Vector256.FusedMultiplyAdd(w1, Vector256.Load(x3 + i + 8), d1);
        }
        float sa = Vector256.Sum((a0 + a1) + (a2 + a3)), sb = Vector256.Sum((b0 + b1) + (b2 + b3));
        float sc = Vector256.Sum((c0 + c1) + (c2 + c3)), sd = Vector256.Sum((d0 + d1) + (d2 + d3));
        ref ushort ph = ref MemoryMarshal.GetReference(w);
        for (; i < n; i++)
        {
            float wi = BitConverter.Int32BitsToSingle(Unsafe.Add(ref ph, i) << 16);
            sa = MathF.FusedMultiplyAdd(wi, x0[i], sa);
            sb = MathF.FusedMultiplyAdd(wi, x1[i], sb);
            sc = MathF.FusedMultiplyAdd(wi, x2[i], sc);
            sd = MathF.FusedMultiplyAdd(wi, x3[i], sd);
        }
        y[0] = sa;
        y[stride2] = sb;
        y[2 * stride2] = sc;
        y[3 * stride2] = sd;
    }

    /// <summary>y += a * x.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void MultiplyAdd(ReadOnlySpan<float> x, float a, Span<float> y)
    {
        if (x.Length != y.Length) throw new ArgumentException("MultiplyAdd: length mismatch");
        int i = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            var va = Vector256.Create(a);
            ref float px = ref MemoryMarshal.GetReference(x);
            ref float py = ref MemoryMarshal.GetReference(y);
            for (; i <= x.Length - 8; i += 8)
                Vector256.FusedMultiplyAdd(Vector256.LoadUnsafe(ref px, (nuint)i), va, Vector256.LoadUnsafe(ref py, (nuint)i))
                    .StoreUnsafe(ref py, (nuint)i);
        }
        for (; i < x.Length; i++) y[i] = MathF.FusedMultiplyAdd(x[i], a, y[i]);
    }

    /// <summary>The largest |x[i]|; NaN if any element is NaN.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static float MaxAbs(ReadOnlySpan<float> x)
    {
        int i = 0;
        var m = Vector256<float>.Zero;
        var nan = Vector256<float>.Zero;
        ref float px = ref MemoryMarshal.GetReference(x);
        if (Vector256.IsHardwareAccelerated)
            for (; i <= x.Length - 8; i += 8)
            {
                var v = Vector256.LoadUnsafe(ref px, (nuint)i);
                m = Vector256.Max(m, Vector256.Abs(v));
                nan |= ~Vector256.Equals(v, v);
            }
        float result = nan != Vector256<float>.Zero ? float.NaN : Vector256.Max(m, Vector256<float>.Zero).ToScalar();
        for (int j = 1; j < 8 && !float.IsNaN(result); j++) result = MathF.Max(result, m.GetElement(j));
        for (; i < x.Length; i++)
        {
            float a = MathF.Abs(x[i]);
            if (float.IsNaN(a)) return float.NaN;
            result = MathF.Max(result, a);
        }
        return result;
    }

    /// <summary>y += x.</summary>
    public static void Add(ReadOnlySpan<float> x, Span<float> y) => TensorPrimitivesAdd(x, y);

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void TensorPrimitivesAdd(ReadOnlySpan<float> x, Span<float> y)
    {
        if (x.Length != y.Length) throw new ArgumentException("Add: length mismatch");
        int i = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            ref float px = ref MemoryMarshal.GetReference(x);
            ref float py = ref MemoryMarshal.GetReference(y);
            for (; i <= x.Length - 8; i += 8)
                (Vector256.LoadUnsafe(ref px, (nuint)i) + Vector256.LoadUnsafe(ref py, (nuint)i)).StoreUnsafe(ref py, (nuint)i);
        }
        for (; i < x.Length; i++) y[i] += x[i];
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Scale(Span<float> x, float a)
    {
        int i = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            var va = Vector256.Create(a);
            ref float px = ref MemoryMarshal.GetReference(x);
            for (; i <= x.Length - 8; i += 8)
                (Vector256.LoadUnsafe(ref px, (nuint)i) * va).StoreUnsafe(ref px, (nuint)i);
        }
        for (; i < x.Length; i++) x[i] *= a;
    }

    /// <summary>RMSNorm: y = x / sqrt(mean(x²) + eps) * weight (no 1+ offset).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void RmsNorm(ReadOnlySpan<float> x, ReadOnlySpan<float> weight, float eps, Span<float> y)
    {
        float ms = Dot(x, x) / x.Length;
        float inv = 1f / MathF.Sqrt(ms + eps);
        int i = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            var vi = Vector256.Create(inv);
            ref float px = ref MemoryMarshal.GetReference(x);
            ref float pw = ref MemoryMarshal.GetReference(weight);
            ref float py = ref MemoryMarshal.GetReference(y);
            for (; i <= x.Length - 8; i += 8)
                (Vector256.LoadUnsafe(ref px, (nuint)i) * vi * Vector256.LoadUnsafe(ref pw, (nuint)i)).StoreUnsafe(ref py, (nuint)i);
        }
        for (; i < x.Length; i++) y[i] = x[i] * inv * weight[i];
    }

    /// <summary>gate = silu(gate) * up, in place on gate.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void SiluMultiply(Span<float> gate, ReadOnlySpan<float> up)
    {
        for (int i = 0; i < gate.Length; i++)
        {
            float g = gate[i];
            gate[i] = g / (1f + MathF.Exp(-g)) * up[i];
        }
    }

    public static float Max(ReadOnlySpan<float> x)
    {
        float m = float.NegativeInfinity;
        foreach (var v in x) if (v > m) m = v;
        return m;
    }

    /// <summary>Index of the largest value; the lowest index wins ties (greedy decoding's rule).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static int ArgMax(ReadOnlySpan<float> x)
    {
        int best = 0;
        for (int i = 1; i < x.Length; i++)
            if (x[i] > x[best]) best = i;
        return best;
    }

    public static float Sigmoid(float x) => 1f / (1f + MathF.Exp(-x));
}

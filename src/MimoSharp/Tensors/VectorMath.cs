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
    /// Dot product of a bfloat16 row with float32 values. Same lanes, accumulators and order as
    /// <see cref="Dot"/> on the decoded row (bf16 → f32 is exact), so both give bit-identical results.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static float DotBf16(ReadOnlySpan<ushort> a, ReadOnlySpan<float> b)
    {
        if (a.Length != b.Length) throw new ArgumentException("DotBf16: length mismatch");
        ref ushort pa = ref MemoryMarshal.GetReference(a);
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
                var w01 = Vector256.LoadUnsafe(ref pa, (nuint)i);
                var w23 = Vector256.LoadUnsafe(ref pa, (nuint)(i + 16));
                var (w0, w1) = Vector256.Widen(w01);
                var (w2, w3) = Vector256.Widen(w23);
                s0 = Vector256.FusedMultiplyAdd(Vector256.ShiftLeft(w0, 16).AsSingle(), Vector256.LoadUnsafe(ref pb, (nuint)i), s0);
                s1 = Vector256.FusedMultiplyAdd(Vector256.ShiftLeft(w1, 16).AsSingle(), Vector256.LoadUnsafe(ref pb, (nuint)(i + 8)), s1);
                s2 = Vector256.FusedMultiplyAdd(Vector256.ShiftLeft(w2, 16).AsSingle(), Vector256.LoadUnsafe(ref pb, (nuint)(i + 16)), s2);
                s3 = Vector256.FusedMultiplyAdd(Vector256.ShiftLeft(w3, 16).AsSingle(), Vector256.LoadUnsafe(ref pb, (nuint)(i + 24)), s3);
            }
            for (; i <= n - 8; i += 8)
            {
                var w = Vector256.WidenLower(Vector128.LoadUnsafe(ref pa, (nuint)i).ToVector256Unsafe());
                s0 = Vector256.FusedMultiplyAdd(Vector256.ShiftLeft(w, 16).AsSingle(), Vector256.LoadUnsafe(ref pb, (nuint)i), s0);
            }
            sum = Vector256.Sum((s0 + s1) + (s2 + s3));
        }
        else
        {
            sum = 0f;
        }
        for (; i < n; i++) sum = MathF.FusedMultiplyAdd(BitConverter.Int32BitsToSingle(Unsafe.Add(ref pa, i) << 16), Unsafe.Add(ref pb, i), sum);
        return sum;
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

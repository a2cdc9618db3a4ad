using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace MimoSharp.Tensors;

/// <summary>
/// Products with block-scaled FP8 e4m3 weights computed as stored: no re-quantisation and no widened copy of the
/// matrix, the e4m3 bytes turned into float32 in registers.
/// <para>
/// One fixed order per output element (the same for every instruction set, row split and batch size, so AVX-512,
/// AVX2 and scalar agree bit for bit and a row's result never depends on its neighbours): for row r and input x,
/// each scale block b (its <c>BlockCols</c> columns) sums in 16 lanes, lane j taking columns b·BlockCols + 16k + j in
/// k order by fused multiply-add from +0 (the true e4m3 value times x; a ragged block's missing columns add nothing);
/// then every lane t_j = fma(p_j, scale[r, b], t_j) in block order; finally y = ((t_j + t_{j+8}) + (… + …)) as a
/// halving tree: lanes j and j+8, then j+4, j+2, j+1. A row holding an e4m3 NaN code (0x7F/0xFF) gives NaN.
/// </para>
/// <para>
/// The conversion is a shift: an e4m3 byte sign-extended to 32 bits, shifted left by 20 and masked to sign, exponent
/// and mantissa is exactly the float32 <c>value · 2^-120</c>, subnormals included (they land on float32 subnormals).
/// Decoding then needs one multiply by 2^120 — or none, when the input is pre-scaled by 2^120 instead: the product
/// of the two is the same real number, so the fused multiply-add rounds it the same way (used while |x| &lt; 2^8, so
/// that x·2^120 stays finite).
/// </para>
/// </summary>
public static unsafe class Fp8Block
{
    /// <summary>Use the AVX-512 kernel where the CPU has it (tests switch it off to compare the paths).</summary>
    internal static bool Avx512Enabled { get; set; } = Avx512F.IsSupported;

    /// <summary>Use the AVX2 kernel where the CPU has it and AVX-512 is off.</summary>
    internal static bool Avx2Enabled { get; set; } = Avx2.IsSupported && Fma.IsSupported;

    /// <summary>2^120: an e4m3 bit pattern shifted into a float32 is its value times 2^-120.</summary>
    public static readonly float TwoTo120 = BitConverter.Int32BitsToSingle((127 + 120) << 23);

    /// <summary>Rows computed together: independent accumulation chains that hide the multiply-add latency.</summary>
    public const int RowGroup = 4;

    /// <summary>Up to this many inputs, each row is decoded in registers per input; beyond, once into an L1 tile.</summary>
    public const int DirectMaxInputs = 3;

    private const int Lanes = 16;
    private const int InputTile = 2;

    /// <summary>Row groups in a matrix (the units products are split into across threads).</summary>
    public static int Groups(int rows) => (rows + RowGroup - 1) / RowGroup;

    /// <summary>
    /// Whether every input may be pre-scaled by 2^120 (all |x| &lt; 2^8, so x·2^120 is finite): then the direct kernel
    /// skips the multiply that decodes the weights.
    /// </summary>
    public static bool CanPrescale(ReadOnlySpan<float> x)
    {
        float limit = 255.99998f; // below 2^8: the largest float32 under 256 times 2^120 is finite
        return VectorMath.MaxAbs(x) <= limit;
    }

    /// <summary>
    /// y[t, r] for row groups g0..g1 and n inputs of <paramref name="x"/> (x pre-scaled by 2^120 when
    /// <paramref name="prescaled"/>; only used for n ≤ <see cref="DirectMaxInputs"/>), rows of y <c>w.Rows</c> apart.
    /// </summary>
    public static void Multiply(WeightMatrix w, float* x, bool prescaled, int n, float* y, int g0, int g1)
    {
        if (Avx512Enabled) Multiply<Avx512Lanes, Vector512<float>>(w, x, prescaled, n, y, g0, g1);
        else if (Avx2Enabled) Multiply<Avx2Lanes, Avx2Lanes.Pair>(w, x, prescaled, n, y, g0, g1);
        else Multiply<ScalarLanes, ScalarLanes.Sixteen>(w, x, prescaled, n, y, g0, g1);
    }

    private static void Multiply<TL, TV>(WeightMatrix w, float* x, bool prescaled, int n, float* y, int g0, int g1)
        where TL : struct, ILanes<TV> where TV : struct
    {
        int rows = w.Rows, cols = w.Cols;
        Span<bool> nan = stackalloc bool[RowGroup];
        if (n <= DirectMaxInputs)
        {
            float* out4 = stackalloc float[RowGroup];
            for (int g = g0; g < g1; g++)
            {
                int r0 = g * RowGroup, valid = Math.Min(RowGroup, rows - r0);
                RowNaNs(w, r0, valid, nan);
                for (int t = 0; t < n; t++)
                {
                    if (prescaled) Direct<TL, TV, Unscaled>(w, x + (long)t * cols, r0, valid, out4);
                    else Direct<TL, TV, Scaled>(w, x + (long)t * cols, r0, valid, out4);
                    for (int i = 0; i < valid; i++) y[(long)t * rows + r0 + i] = nan[i] ? float.NaN : out4[i];
                }
            }
            return;
        }
        int padded = PaddedCols(w);
        float[] tile = System.Buffers.ArrayPool<float>.Shared.Rent(RowGroup * padded + 64);
        try
        {
            fixed (float* pt = tile)
            {
                float* aligned = (float*)(((nint)pt + 63) & ~(nint)63);
                float* out8 = stackalloc float[RowGroup * InputTile];
                for (int g = g0; g < g1; g++)
                {
                    int r0 = g * RowGroup, valid = Math.Min(RowGroup, rows - r0);
                    RowNaNs(w, r0, valid, nan);
                    DecodeTile<TL, TV>(w, r0, valid, aligned, padded);
                    for (int t = 0; t < n; t += InputTile)
                    {
                        int m = Math.Min(InputTile, n - t);
                        Tiled<TL, TV>(w, aligned, padded, r0, x + (long)t * cols, x + (long)(t + m - 1) * cols, out8);
                        for (int j = 0; j < m; j++)
                            for (int i = 0; i < valid; i++)
                                y[(long)(t + j) * rows + r0 + i] = nan[i] ? float.NaN : out8[i * InputTile + j];
                    }
                }
            }
        }
        finally
        {
            System.Buffers.ArrayPool<float>.Shared.Return(tile);
        }
    }

    /// <summary>Floats per decoded row in a tile: every scale block padded with zeros to whole 16-lane chunks.</summary>
    private static int PaddedCols(WeightMatrix w)
    {
        int bc = w.BlockCols, blocks = (w.Cols + bc - 1) / bc;
        return blocks * ((bc + Lanes - 1) / Lanes * Lanes);
    }

    private static void RowNaNs(WeightMatrix w, int r0, int valid, Span<bool> nan)
    {
        for (int i = 0; i < RowGroup; i++)
            nan[i] = i < valid && Fp8E4M3.HasNaN(new ReadOnlySpan<byte>(w.Fp8Row(r0 + i), w.Cols));
    }

    /// <summary>Whether the direct kernel multiplies decoded weights by 2^120 (inputs not pre-scaled).</summary>
    private interface IDecodeScale
    {
        static abstract bool MultiplyWeights { get; }
    }

    private struct Scaled : IDecodeScale
    {
        public static bool MultiplyWeights => true;
    }

    private struct Unscaled : IDecodeScale
    {
        public static bool MultiplyWeights => false;
    }

    /// <summary>16 e4m3 weights as float32 (scaled by 2^120 or, for pre-scaled inputs, left at value·2^-120).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static TV Weights<TL, TV, TS>(byte* p) where TL : struct, ILanes<TV> where TV : struct where TS : struct, IDecodeScale =>
        TS.MultiplyWeights ? TL.Mul(TL.Fp8(p), TwoTo120) : TL.Fp8(p);

    /// <summary>One input against up to four rows (missing rows repeat the last, their results unused), e4m3 decoded per chunk.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Direct<TL, TV, TS>(WeightMatrix w, float* x, int r0, int valid, float* y)
        where TL : struct, ILanes<TV> where TV : struct where TS : struct, IDecodeScale
    {
        int cols = w.Cols, bc = w.BlockCols;
        byte* w0 = w.Fp8Row(r0), w1 = w.Fp8Row(r0 + Math.Min(1, valid - 1)), w2 = w.Fp8Row(r0 + Math.Min(2, valid - 1)), w3 = w.Fp8Row(r0 + valid - 1);
        float* s0 = w.ScaleRow(r0), s1 = w.ScaleRow(r0 + Math.Min(1, valid - 1)), s2 = w.ScaleRow(r0 + Math.Min(2, valid - 1)), s3 = w.ScaleRow(r0 + valid - 1);
        byte* tailW = stackalloc byte[RowGroup * Lanes];
        float* tailX = stackalloc float[Lanes];
        TV t0 = TL.Zero(), t1 = TL.Zero(), t2 = TL.Zero(), t3 = TL.Zero();
        for (int b = 0, c0 = 0; c0 < cols; b++, c0 += bc)
        {
            int end = Math.Min(c0 + bc, cols), c = c0;
            TV p0 = TL.Zero(), p1 = TL.Zero(), p2 = TL.Zero(), p3 = TL.Zero();
            for (; c + Lanes <= end; c += Lanes)
            {
                TV xv = TL.Load(x + c);
                p0 = TL.Fma(Weights<TL, TV, TS>(w0 + c), xv, p0);
                p1 = TL.Fma(Weights<TL, TV, TS>(w1 + c), xv, p1);
                p2 = TL.Fma(Weights<TL, TV, TS>(w2 + c), xv, p2);
                p3 = TL.Fma(Weights<TL, TV, TS>(w3 + c), xv, p3);
            }
            if (c < end)
            {
                // A ragged block: its last columns copied beside zeros (a zero weight times a zero input adds nothing).
                int len = end - c;
                new Span<byte>(tailW, RowGroup * Lanes).Clear();
                new Span<float>(tailX, Lanes).Clear();
                new ReadOnlySpan<float>(x + c, len).CopyTo(new Span<float>(tailX, Lanes));
                new ReadOnlySpan<byte>(w0 + c, len).CopyTo(new Span<byte>(tailW, Lanes));
                new ReadOnlySpan<byte>(w1 + c, len).CopyTo(new Span<byte>(tailW + Lanes, Lanes));
                new ReadOnlySpan<byte>(w2 + c, len).CopyTo(new Span<byte>(tailW + 2 * Lanes, Lanes));
                new ReadOnlySpan<byte>(w3 + c, len).CopyTo(new Span<byte>(tailW + 3 * Lanes, Lanes));
                TV xv = TL.Load(tailX);
                p0 = TL.Fma(Weights<TL, TV, TS>(tailW), xv, p0);
                p1 = TL.Fma(Weights<TL, TV, TS>(tailW + Lanes), xv, p1);
                p2 = TL.Fma(Weights<TL, TV, TS>(tailW + 2 * Lanes), xv, p2);
                p3 = TL.Fma(Weights<TL, TV, TS>(tailW + 3 * Lanes), xv, p3);
            }
            t0 = TL.Fma(p0, s0[b], t0);
            t1 = TL.Fma(p1, s1[b], t1);
            t2 = TL.Fma(p2, s2[b], t2);
            t3 = TL.Fma(p3, s3[b], t3);
        }
        y[0] = TL.Sum(t0);
        y[1] = TL.Sum(t1);
        y[2] = TL.Sum(t2);
        y[3] = TL.Sum(t3);
    }

    /// <summary>Decodes four rows (missing rows repeat the last) into a tile of true values, each block padded with zeros.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void DecodeTile<TL, TV>(WeightMatrix w, int r0, int valid, float* tile, int padded)
        where TL : struct, ILanes<TV> where TV : struct
    {
        int cols = w.Cols, bc = w.BlockCols, stride = (bc + Lanes - 1) / Lanes * Lanes;
        byte* tail = stackalloc byte[Lanes];
        for (int i = 0; i < RowGroup; i++)
        {
            byte* row = w.Fp8Row(r0 + Math.Min(i, valid - 1));
            float* dst = tile + i * padded;
            for (int c0 = 0, o = 0; c0 < cols; c0 += bc, o += stride)
            {
                int end = Math.Min(c0 + bc, cols), c = c0, k = o;
                for (; c + Lanes <= end; c += Lanes, k += Lanes) TL.Store(dst + k, TL.Mul(TL.Fp8(row + c), TwoTo120));
                for (; k < o + stride; c += Lanes, k += Lanes)
                {
                    new Span<byte>(tail, Lanes).Clear();
                    if (c < end) new ReadOnlySpan<byte>(row + c, end - c).CopyTo(new Span<byte>(tail, Lanes));
                    TL.Store(dst + k, TL.Mul(TL.Fp8(tail), TwoTo120));
                }
            }
        }
    }

    /// <summary>Two inputs (the same one twice for an odd count) against a decoded tile of four rows.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Tiled<TL, TV>(WeightMatrix w, float* tile, int padded, int r0, float* xa, float* xb, float* y)
        where TL : struct, ILanes<TV> where TV : struct
    {
        int cols = w.Cols, bc = w.BlockCols, stride = (bc + Lanes - 1) / Lanes * Lanes, last = w.Rows - 1;
        float* s0 = w.ScaleRow(Math.Min(r0, last)), s1 = w.ScaleRow(Math.Min(r0 + 1, last)), s2 = w.ScaleRow(Math.Min(r0 + 2, last)), s3 = w.ScaleRow(Math.Min(r0 + 3, last));
        float* w0 = tile, w1 = tile + padded, w2 = tile + 2 * padded, w3 = tile + 3 * padded;
        float* tailA = stackalloc float[Lanes];
        float* tailB = stackalloc float[Lanes];
        TV t0a = TL.Zero(), t1a = TL.Zero(), t2a = TL.Zero(), t3a = TL.Zero();
        TV t0b = TL.Zero(), t1b = TL.Zero(), t2b = TL.Zero(), t3b = TL.Zero();
        for (int b = 0, c0 = 0, o = 0; c0 < cols; b++, c0 += bc, o += stride)
        {
            int end = Math.Min(c0 + bc, cols), c = c0, k = o;
            TV p0a = TL.Zero(), p1a = TL.Zero(), p2a = TL.Zero(), p3a = TL.Zero();
            TV p0b = TL.Zero(), p1b = TL.Zero(), p2b = TL.Zero(), p3b = TL.Zero();
            for (; c < end; c += Lanes, k += Lanes)
            {
                TV va, vb;
                if (c + Lanes <= end)
                {
                    va = TL.Load(xa + c);
                    vb = TL.Load(xb + c);
                }
                else
                {
                    new Span<float>(tailA, Lanes).Clear();
                    new Span<float>(tailB, Lanes).Clear();
                    new ReadOnlySpan<float>(xa + c, end - c).CopyTo(new Span<float>(tailA, Lanes));
                    new ReadOnlySpan<float>(xb + c, end - c).CopyTo(new Span<float>(tailB, Lanes));
                    va = TL.Load(tailA);
                    vb = TL.Load(tailB);
                }
                TV q = TL.Load(w0 + k);
                p0a = TL.Fma(q, va, p0a);
                p0b = TL.Fma(q, vb, p0b);
                q = TL.Load(w1 + k);
                p1a = TL.Fma(q, va, p1a);
                p1b = TL.Fma(q, vb, p1b);
                q = TL.Load(w2 + k);
                p2a = TL.Fma(q, va, p2a);
                p2b = TL.Fma(q, vb, p2b);
                q = TL.Load(w3 + k);
                p3a = TL.Fma(q, va, p3a);
                p3b = TL.Fma(q, vb, p3b);
            }
            t0a = TL.Fma(p0a, s0[b], t0a);
            t0b = TL.Fma(p0b, s0[b], t0b);
            t1a = TL.Fma(p1a, s1[b], t1a);
            t1b = TL.Fma(p1b, s1[b], t1b);
            t2a = TL.Fma(p2a, s2[b], t2a);
            t2b = TL.Fma(p2b, s2[b], t2b);
            t3a = TL.Fma(p3a, s3[b], t3a);
            t3b = TL.Fma(p3b, s3[b], t3b);
        }
        y[0] = TL.Sum(t0a);
        y[1] = TL.Sum(t0b);
        y[2] = TL.Sum(t1a);
        y[3] = TL.Sum(t1b);
        y[4] = TL.Sum(t2a);
        y[5] = TL.Sum(t2b);
        y[6] = TL.Sum(t3a);
        y[7] = TL.Sum(t3b);
    }

    /// <summary>Sixteen float32 lanes and the few operations the kernels need, one implementation per instruction set.</summary>
    private interface ILanes<TV> where TV : struct
    {
        static abstract TV Zero();

        /// <summary>16 e4m3 bytes as float32 <c>value · 2^-120</c>.</summary>
        static abstract TV Fp8(byte* p);

        static abstract TV Load(float* p);
        static abstract void Store(float* p, TV v);

        /// <summary>a·b + c rounded once, lane by lane.</summary>
        static abstract TV Fma(TV a, TV b, TV c);

        static abstract TV Fma(TV a, float b, TV c);
        static abstract TV Mul(TV a, float b);

        /// <summary>The halving tree: lanes j and j+8, then j+4, j+2, j+1.</summary>
        static abstract float Sum(TV v);
    }

    private const int Fp8Mask = unchecked((int)0x87F00000); // sign, then e4m3's exponent and mantissa under float32's

    private struct Avx512Lanes : ILanes<Vector512<float>>
    {
        public static Vector512<float> Zero() => Vector512<float>.Zero;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector512<float> Fp8(byte* p) =>
            Avx512F.And(Avx512F.ShiftLeftLogical(Avx512F.ConvertToVector512Int32(Vector128.Load((sbyte*)p)), 20), Vector512.Create(Fp8Mask)).AsSingle();

        public static Vector512<float> Load(float* p) => Vector512.Load(p);
        public static void Store(float* p, Vector512<float> v) => v.Store(p);
        public static Vector512<float> Fma(Vector512<float> a, Vector512<float> b, Vector512<float> c) => Avx512F.FusedMultiplyAdd(a, b, c);
        public static Vector512<float> Fma(Vector512<float> a, float b, Vector512<float> c) => Avx512F.FusedMultiplyAdd(a, Vector512.Create(b), c);
        public static Vector512<float> Mul(Vector512<float> a, float b) => a * Vector512.Create(b);
        public static float Sum(Vector512<float> v) => Avx2Lanes.Sum8(v.GetLower() + v.GetUpper());
    }

    private struct Avx2Lanes : ILanes<Avx2Lanes.Pair>
    {
        /// <summary>Lanes 0..7 and 8..15.</summary>
        public struct Pair
        {
            public Vector256<float> Low, High;
        }

        public static Pair Zero() => default;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Pair Fp8(byte* p) => new()
        {
            Low = Avx2.And(Avx2.ShiftLeftLogical(Avx2.ConvertToVector256Int32((sbyte*)p), 20), Vector256.Create(Fp8Mask)).AsSingle(),
            High = Avx2.And(Avx2.ShiftLeftLogical(Avx2.ConvertToVector256Int32((sbyte*)p + 8), 20), Vector256.Create(Fp8Mask)).AsSingle(),
        };

        public static Pair Load(float* p) => new() { Low = Vector256.Load(p), High = Vector256.Load(p + 8) };

        public static void Store(float* p, Pair v)
        {
            v.Low.Store(p);
            v.High.Store(p + 8);
        }

        public static Pair Fma(Pair a, Pair b, Pair c) => new()
        {
            Low = System.Runtime.Intrinsics.X86.Fma.MultiplyAdd(a.Low, b.Low, c.Low),
            High = System.Runtime.Intrinsics.X86.Fma.MultiplyAdd(a.High, b.High, c.High),
        };

        public static Pair Fma(Pair a, float b, Pair c)
        {
            var s = Vector256.Create(b);
            return new()
            {
                Low = System.Runtime.Intrinsics.X86.Fma.MultiplyAdd(a.Low, s, c.Low),
                High = System.Runtime.Intrinsics.X86.Fma.MultiplyAdd(a.High, s, c.High),
            };
        }

        public static Pair Mul(Pair a, float b) => new() { Low = a.Low * Vector256.Create(b), High = a.High * Vector256.Create(b) };

        public static float Sum(Pair v) => Sum8(v.Low + v.High);

        /// <summary>The tree's last three levels, from the eight sums of lanes j and j+8.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        internal static float Sum8(Vector256<float> v)
        {
            var q = v.GetLower() + v.GetUpper();
            var h = q + Vector128.Shuffle(q, Vector128.Create(2, 3, 0, 1));
            return h.ToScalar() + h.GetElement(1);
        }
    }

    private struct ScalarLanes : ILanes<ScalarLanes.Sixteen>
    {
        [InlineArray(Lanes)]
        public struct Sixteen
        {
            private float _first;
        }

        public static Sixteen Zero() => default;

        public static Sixteen Fp8(byte* p)
        {
            Sixteen v = default;
            for (int j = 0; j < Lanes; j++) v[j] = BitConverter.Int32BitsToSingle(((sbyte)p[j] << 20) & Fp8Mask);
            return v;
        }

        public static Sixteen Load(float* p)
        {
            Sixteen v = default;
            for (int j = 0; j < Lanes; j++) v[j] = p[j];
            return v;
        }

        public static void Store(float* p, Sixteen v)
        {
            for (int j = 0; j < Lanes; j++) p[j] = v[j];
        }

        public static Sixteen Fma(Sixteen a, Sixteen b, Sixteen c)
        {
            for (int j = 0; j < Lanes; j++) c[j] = MathF.FusedMultiplyAdd(a[j], b[j], c[j]);
            return c;
        }

        public static Sixteen Fma(Sixteen a, float b, Sixteen c)
        {
            for (int j = 0; j < Lanes; j++) c[j] = MathF.FusedMultiplyAdd(a[j], b, c[j]);
            return c;
        }

        public static Sixteen Mul(Sixteen a, float b)
        {
            for (int j = 0; j < Lanes; j++) a[j] *= b;
            return a;
        }

        public static float Sum(Sixteen v)
        {
            Span<float> s = stackalloc float[8];
            for (int j = 0; j < 8; j++) s[j] = v[j] + v[j + 8];
            for (int j = 0; j < 4; j++) s[j] += s[j + 4];
            for (int j = 0; j < 2; j++) s[j] += s[j + 2];
            return s[0] + s[1];
        }
    }
}

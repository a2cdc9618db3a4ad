using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace MimoSharp.Tensors;

/// <summary>
/// Products with block-scaled FP8 e4m3 weights computed as stored: no re-quantisation and no widened copy of the
/// matrix, the e4m3 bytes turned into float32 in registers.
/// <para>
/// One fixed order per output element (the same for every instruction set, row split and batch size, so AVX-512,
/// AVX2 and scalar agree bit for bit and a row's result never depends on its neighbours): for row r and input x, each
/// scale block b (its <c>BlockCols</c> columns) sums in 64 lanes, lane j taking columns b·BlockCols + 64k + j in k
/// order by fused multiply-add from +0 (the true e4m3 value times x; a ragged block's missing columns add nothing);
/// the four 16-lane quarters are added as (q0 + q1) + (q2 + q3) and each lane t_j = fma(that, scale[r, b], t_j) in
/// block order; finally y is the halving tree over the 16 t lanes (lanes j and j+8, then j+4, j+2, j+1). A row
/// holding an e4m3 NaN code (0x7F/0xFF) gives NaN. Each row is one sequential stream of bytes (what the hardware
/// prefetcher reads best), with four independent accumulation chains to hide the multiply-add latency.
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

    /// <summary>Rows decoded together for a tile (the unit products are split into across threads).</summary>
    public const int RowGroup = 2;

    /// <summary>Up to this many inputs, each row is decoded in registers per input; beyond, once into an L1 tile.</summary>
    public const int DirectMaxInputs = 3;

    private const int Lanes = 16;
    private const int Chunk = 4 * Lanes; // columns per step: four 16-lane accumulators
    private const int InputTile = 2;

    /// <summary>Row groups in a matrix.</summary>
    public static int Groups(int rows) => (rows + RowGroup - 1) / RowGroup;

    /// <summary>
    /// Whether every input may be pre-scaled by 2^120 (all |x| &lt; 2^8, so x·2^120 is finite): then the direct kernel
    /// skips the multiply that decodes the weights.
    /// </summary>
    public static bool CanPrescale(ReadOnlySpan<float> x) => VectorMath.MaxAbs(x) < 256f;

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
        int rows = w.Rows, r0 = g0 * RowGroup, r1 = Math.Min(rows, g1 * RowGroup);
        Products<TL, TV>(w, x, prescaled, n, y, r0, r1);
        foreach (int r in w.Fp8NanRows)
            if (r >= r0 && r < r1)
                for (int t = 0; t < n; t++) y[(long)t * rows + r] = float.NaN;
    }

    private static void Products<TL, TV>(WeightMatrix w, float* x, bool prescaled, int n, float* y, int r0, int r1)
        where TL : struct, ILanes<TV> where TV : struct
    {
        int rows = w.Rows, cols = w.Cols;
        byte* tailW = stackalloc byte[Chunk];
        float* tailX = stackalloc float[2 * Chunk];
        if (n <= DirectMaxInputs)
        {
            for (int r = r0; r < r1; r++)
            {
                for (int t = 0; t < n; t++)
                    y[(long)t * rows + r] = prescaled
                        ? Direct<TL, TV, Unscaled>(w, r, x + (long)t * cols, tailW, tailX)
                        : Direct<TL, TV, Scaled>(w, r, x + (long)t * cols, tailW, tailX);
            }
            return;
        }
        int padded = PaddedCols(w);
        float[] tile = System.Buffers.ArrayPool<float>.Shared.Rent(RowGroup * padded + 16);
        try
        {
            fixed (float* pt = tile)
            {
                float* aligned = (float*)(((nint)pt + 63) & ~(nint)63);
                float* out4 = stackalloc float[RowGroup * InputTile];
                for (int ra = r0; ra < r1; ra += RowGroup)
                {
                    int rb = Math.Min(ra + 1, r1 - 1); // an odd last row is paired with itself
                    DecodeRow<TL, TV>(w, ra, aligned, tailW);
                    DecodeRow<TL, TV>(w, rb, aligned + padded, tailW);
                    for (int t = 0; t < n; t += InputTile)
                    {
                        int m = Math.Min(InputTile, n - t);
                        Tiled<TL, TV>(w, aligned, padded, ra, rb, x + (long)t * cols, x + (long)(t + m - 1) * cols, out4, tailX);
                        for (int j = 0; j < m; j++)
                        {
                            y[(long)(t + j) * rows + ra] = out4[j];
                            y[(long)(t + j) * rows + rb] = out4[InputTile + j];
                        }
                    }
                }
            }
        }
        finally
        {
            System.Buffers.ArrayPool<float>.Shared.Return(tile);
        }
    }

    /// <summary>Floats per decoded row in a tile: every scale block padded with zeros to whole 64-column steps.</summary>
    private static int PaddedCols(WeightMatrix w)
    {
        int bc = w.BlockCols, blocks = (w.Cols + bc - 1) / bc;
        return blocks * BlockStride(bc);
    }

    private static int BlockStride(int blockCols) => (blockCols + Chunk - 1) / Chunk * Chunk;

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

    /// <summary>One row against one input, e4m3 decoded in registers.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static float Direct<TL, TV, TS>(WeightMatrix w, int r, float* x, byte* tailW, float* tailX)
        where TL : struct, ILanes<TV> where TV : struct where TS : struct, IDecodeScale
    {
        int cols = w.Cols, bc = w.BlockCols;
        byte* row = w.Fp8Row(r);
        float* scales = w.ScaleRow(r);
        TV t = TL.Zero();
        for (int b = 0, c0 = 0; c0 < cols; b++, c0 += bc)
        {
            int end = Math.Min(c0 + bc, cols), c = c0;
            TV p0 = TL.Zero(), p1 = TL.Zero(), p2 = TL.Zero(), p3 = TL.Zero();
            for (; c + Chunk <= end; c += Chunk)
            {
                p0 = TL.Fma(Weights<TL, TV, TS>(row + c), TL.Load(x + c), p0);
                p1 = TL.Fma(Weights<TL, TV, TS>(row + c + Lanes), TL.Load(x + c + Lanes), p1);
                p2 = TL.Fma(Weights<TL, TV, TS>(row + c + 2 * Lanes), TL.Load(x + c + 2 * Lanes), p2);
                p3 = TL.Fma(Weights<TL, TV, TS>(row + c + 3 * Lanes), TL.Load(x + c + 3 * Lanes), p3);
            }
            if (c < end)
            {
                // A ragged step: its last columns copied beside zeros (a zero weight times a zero input adds nothing).
                // Plain loops, no calls: a call here would make the JIT keep the accumulators in memory.
                for (int j = 0; j < Chunk; j++)
                {
                    bool inside = c + j < end;
                    tailX[j] = inside ? x[c + j] : 0f;
                    tailW[j] = inside ? row[c + j] : (byte)0;
                }
                p0 = TL.Fma(Weights<TL, TV, TS>(tailW), TL.Load(tailX), p0);
                p1 = TL.Fma(Weights<TL, TV, TS>(tailW + Lanes), TL.Load(tailX + Lanes), p1);
                p2 = TL.Fma(Weights<TL, TV, TS>(tailW + 2 * Lanes), TL.Load(tailX + 2 * Lanes), p2);
                p3 = TL.Fma(Weights<TL, TV, TS>(tailW + 3 * Lanes), TL.Load(tailX + 3 * Lanes), p3);
            }
            t = TL.Fma(TL.Add(TL.Add(p0, p1), TL.Add(p2, p3)), scales[b], t);
        }
        return TL.Sum(t);
    }

    /// <summary>Decodes one row into a tile row of true values, each block padded with zeros to whole steps.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void DecodeRow<TL, TV>(WeightMatrix w, int r, float* dst, byte* tail)
        where TL : struct, ILanes<TV> where TV : struct
    {
        int cols = w.Cols, bc = w.BlockCols, stride = BlockStride(bc);
        byte* row = w.Fp8Row(r);
        for (int c0 = 0, o = 0; c0 < cols; c0 += bc, o += stride)
        {
            int end = Math.Min(c0 + bc, cols), c = c0, k = o;
            for (; c + Lanes <= end; c += Lanes, k += Lanes) TL.Store(dst + k, TL.Mul(TL.Fp8(row + c), TwoTo120));
            for (; k < o + stride; c += Lanes, k += Lanes)
            {
                for (int j = 0; j < Lanes; j++) tail[j] = c + j < end ? row[c + j] : (byte)0;
                TL.Store(dst + k, TL.Mul(TL.Fp8(tail), TwoTo120));
            }
        }
    }

    /// <summary>Two decoded rows against two inputs (the same one twice for an odd count): y = [a·xa, a·xb, b·xa, b·xb].</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Tiled<TL, TV>(WeightMatrix w, float* tile, int padded, int ra, int rb, float* xa, float* xb, float* y, float* tailX)
        where TL : struct, ILanes<TV> where TV : struct
    {
        int cols = w.Cols, bc = w.BlockCols, stride = BlockStride(bc);
        float* sa = w.ScaleRow(ra), sb = w.ScaleRow(rb);
        TV taa = TL.Zero(), tab = TL.Zero(), tba = TL.Zero(), tbb = TL.Zero();
        for (int b = 0, c0 = 0, o = 0; c0 < cols; b++, c0 += bc, o += stride)
        {
            int end = Math.Min(c0 + bc, cols);
            // Partial sums per quarter q (lanes 16q..16q+15 of a step), for rows a/b × inputs a/b.
            TV aa0 = TL.Zero(), aa1 = TL.Zero(), aa2 = TL.Zero(), aa3 = TL.Zero();
            TV ab0 = TL.Zero(), ab1 = TL.Zero(), ab2 = TL.Zero(), ab3 = TL.Zero();
            TV ba0 = TL.Zero(), ba1 = TL.Zero(), ba2 = TL.Zero(), ba3 = TL.Zero();
            TV bb0 = TL.Zero(), bb1 = TL.Zero(), bb2 = TL.Zero(), bb3 = TL.Zero();
            for (int c = c0, k = o; c < end; c += Chunk, k += Chunk)
            {
                float* pa = xa + c, pb = xb + c;
                if (c + Chunk > end)
                {
                    // A ragged step: inputs copied beside zeros (the tile's weights are zero-padded already).
                    for (int j = 0; j < Chunk; j++)
                    {
                        tailX[j] = c + j < end ? xa[c + j] : 0f;
                        tailX[Chunk + j] = c + j < end ? xb[c + j] : 0f;
                    }
                    pa = tailX;
                    pb = tailX + Chunk;
                }
                float* wa = tile + k, wb = tile + padded + k;
                TV va = TL.Load(pa), vb = TL.Load(pb), qa = TL.Load(wa), qb = TL.Load(wb);
                aa0 = TL.Fma(qa, va, aa0); ab0 = TL.Fma(qa, vb, ab0); ba0 = TL.Fma(qb, va, ba0); bb0 = TL.Fma(qb, vb, bb0);
                va = TL.Load(pa + Lanes); vb = TL.Load(pb + Lanes); qa = TL.Load(wa + Lanes); qb = TL.Load(wb + Lanes);
                aa1 = TL.Fma(qa, va, aa1); ab1 = TL.Fma(qa, vb, ab1); ba1 = TL.Fma(qb, va, ba1); bb1 = TL.Fma(qb, vb, bb1);
                va = TL.Load(pa + 2 * Lanes); vb = TL.Load(pb + 2 * Lanes); qa = TL.Load(wa + 2 * Lanes); qb = TL.Load(wb + 2 * Lanes);
                aa2 = TL.Fma(qa, va, aa2); ab2 = TL.Fma(qa, vb, ab2); ba2 = TL.Fma(qb, va, ba2); bb2 = TL.Fma(qb, vb, bb2);
                va = TL.Load(pa + 3 * Lanes); vb = TL.Load(pb + 3 * Lanes); qa = TL.Load(wa + 3 * Lanes); qb = TL.Load(wb + 3 * Lanes);
                aa3 = TL.Fma(qa, va, aa3); ab3 = TL.Fma(qa, vb, ab3); ba3 = TL.Fma(qb, va, ba3); bb3 = TL.Fma(qb, vb, bb3);
            }
            taa = TL.Fma(TL.Add(TL.Add(aa0, aa1), TL.Add(aa2, aa3)), sa[b], taa);
            tab = TL.Fma(TL.Add(TL.Add(ab0, ab1), TL.Add(ab2, ab3)), sa[b], tab);
            tba = TL.Fma(TL.Add(TL.Add(ba0, ba1), TL.Add(ba2, ba3)), sb[b], tba);
            tbb = TL.Fma(TL.Add(TL.Add(bb0, bb1), TL.Add(bb2, bb3)), sb[b], tbb);
        }
        y[0] = TL.Sum(taa);
        y[1] = TL.Sum(tab);
        y[2] = TL.Sum(tba);
        y[3] = TL.Sum(tbb);
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
        static abstract TV Add(TV a, TV b);

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
        public static Vector512<float> Add(Vector512<float> a, Vector512<float> b) => a + b;
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
        public static Pair Add(Pair a, Pair b) => new() { Low = a.Low + b.Low, High = a.High + b.High };

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

        public static Sixteen Add(Sixteen a, Sixteen b)
        {
            for (int j = 0; j < Lanes; j++) a[j] += b[j];
            return a;
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

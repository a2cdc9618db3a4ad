using System.Buffers;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace MimoSharp.Tensors;

/// <summary>
/// Products with block-scaled FP8 e4m3 weights computed as stored: no re-quantisation and no widened copy of the
/// matrix, the e4m3 bytes turned into float32 in registers.
/// <para>
/// One fixed order per output element (the same for every instruction set, row split and batch size, so AVX-512,
/// AVX2 and scalar agree bit for bit and a row's result never depends on its neighbours): the block scale is applied
/// to the input, not to the sum — for row r, the input's columns are first rounded to <c>xs[c] = x[c] · scale[r, c /
/// BlockCols]</c>. The terms <c>w[r, c] · xs[c]</c> are then summed per span of 128 columns (from column 0; the last
/// may be shorter) in 64 lanes by fused multiply-add from +0, lane j taking the span's columns j and 64 + j (a ragged
/// end adds nothing); each span's four 16-lane quarters are added as (q0 + q1) + (q2 + q3) into 16 running totals
/// (from +0, span order); y is the halving tree over those totals (lanes j and j+8, then j+4, j+2, j+1). A row
/// holding an e4m3 NaN code (0x7F/0xFF) gives NaN. Scaling the input rather than the partial sums leaves nothing to
/// multiply at a block's end; the short chains per span (rather than 64 multiply-adds in a row per lane) measured
/// 1.8× faster from DRAM on 4096-byte rows, where a row is one page and one sequential stream of bytes. (A
/// dequantised reference rounds <c>w · scale</c> instead; the two differ by float32 rounding only.)
/// </para>
/// <para>
/// The conversion is a shift: an e4m3 byte sign-extended to 32 bits, shifted left by 20 and masked to sign, exponent
/// and mantissa is exactly the float32 <c>value · 2^-120</c>, subnormals included (they land on float32 subnormals).
/// Decoding then needs a multiply by 2^120 — or none, when the scaled input is multiplied by 2^120 instead: the
/// product of the two is the same real number, so the fused multiply-add rounds it the same way (used while every
/// |xs| &lt; 2^8, so that xs·2^120 stays finite).
/// </para>
/// <para>
/// Few inputs (decoding) multiply each row straight from the stored bytes; more (prefill) decode a block of rows once
/// into an L2-sized tile of float32 and multiply it by two inputs and two rows at a time, so that the tile and the
/// inputs are each read from cache many times per read of the weights.
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

    /// <summary>Rows handled together (the unit products are split into across threads).</summary>
    public const int RowGroup = 16;

    /// <summary>Up to this many inputs, each row is decoded in registers per input; beyond, once into a tile.</summary>
    public const int DirectMaxInputs = 3;

    private const int Lanes = 16;
    private const int Chunk = 4 * Lanes; // columns per step: four 16-lane accumulators
    private const int Span = 2 * Chunk;  // columns summed from zero before joining the running totals

    /// <summary>Inputs whose scaled copies are kept at once in the tiled path (bounds the scratch memory).</summary>
    private const int InputBlock = 64;

    /// <summary>Columns per slice of the tiled path: two rows and two inputs of it fill half of a 32 KB L1.</summary>
    private const int SliceCols = 1024;

    /// <summary>Bytes of decoded rows the tiled path keeps (about half this machine's per-core L2).</summary>
    private const int TileBytes = 256 << 10;

    /// <summary>Row groups in a matrix.</summary>
    public static int Groups(int rows) => (rows + RowGroup - 1) / RowGroup;

    /// <summary>y[t, r] for row groups g0..g1 and n inputs of <paramref name="x"/>, rows of y <c>w.Rows</c> apart.</summary>
    public static void Multiply(WeightMatrix w, float* x, int n, float* y, int g0, int g1)
    {
        int rows = w.Rows, r0 = g0 * RowGroup, r1 = Math.Min(rows, g1 * RowGroup);
        if (Avx512Enabled) Products<Avx512Lanes, Vector512<float>>(w, x, n, y, r0, r1);
        else if (Avx2Enabled) Products<Avx2Lanes, Avx2Lanes.Pair>(w, x, n, y, r0, r1);
        else Products<ScalarLanes, ScalarLanes.Sixteen>(w, x, n, y, r0, r1);
        foreach (int r in w.Fp8NanRows)
            if (r >= r0 && r < r1)
                for (int t = 0; t < n; t++) y[(long)t * rows + r] = float.NaN;
    }

    /// <summary>Columns rounded up to whole 64-column steps: the length of a scaled input or decoded row.</summary>
    private static int PaddedCols(int cols) => (cols + Chunk - 1) / Chunk * Chunk;

    private static void Products<TL, TV>(WeightMatrix w, float* x, int n, float* y, int r0, int r1)
        where TL : struct, ILanes<TV> where TV : struct
    {
        int cols = w.Cols, padded = PaddedCols(cols), block = Math.Min(n, InputBlock);
        float[] scratch = ArrayPool<float>.Shared.Rent(block * padded + 16);
        try
        {
            fixed (float* ps = scratch)
            {
                float* xs = Align(ps);
                if (n <= DirectMaxInputs) DirectRows<TL, TV>(w, x, n, y, r0, r1, xs);
                else
                    for (int t0 = 0; t0 < n; t0 += InputBlock)
                        TiledRows<TL, TV>(w, x + (long)t0 * cols, Math.Min(InputBlock, n - t0), y + (long)t0 * w.Rows, r0, r1, xs);
            }
        }
        finally
        {
            ArrayPool<float>.Shared.Return(scratch);
        }
    }

    private static float* Align(float* p) => (float*)(((nint)p + 63) & ~(nint)63);

    /// <summary>
    /// xs[t] = x[t] · (the scale of each column's block in <paramref name="scales"/>), zero-padded to whole steps, for
    /// n inputs, <paramref name="padded"/> apart; with <paramref name="prescale"/>, also times 2^120 where every
    /// |xs| &lt; 2^8 (returns whether it was).
    /// </summary>
    internal static bool ScaleInputs(float* x, int n, int cols, int padded, int blockCols, float* scales, float* xs, bool prescale)
    {
        if (Vector512.IsHardwareAccelerated && blockCols % 16 == 0 && cols % 16 == 0)
            return ScaleInputs512(x, n, cols, padded, blockCols, scales, xs, prescale);
        float max = 0;
        for (int t = 0; t < n; t++)
        {
            float* src = x + (long)t * cols, dst = xs + (long)t * padded;
            for (int c0 = 0, b = 0; c0 < cols; c0 += blockCols, b++)
            {
                int len = Math.Min(blockCols, cols - c0);
                var row = new Span<float>(dst + c0, len);
                new ReadOnlySpan<float>(src + c0, len).CopyTo(row);
                VectorMath.Scale(row, scales[b]);
            }
            new Span<float>(dst + cols, padded - cols).Clear();
            if (prescale) max = Math.Max(max, VectorMath.MaxAbs(new ReadOnlySpan<float>(dst, cols)));
        }
        if (!prescale || !(max < 256f)) return false;
        VectorMath.Scale(new Span<float>(xs, n * padded), TwoTo120);
        return true;
    }

    /// <summary>
    /// <see cref="ScaleInputs"/> in one pass for whole 16-column blocks (the release's 128): each xs rounded once from
    /// x · scale, then times 2^120 (exact) where asked, and redone without it in the rare case some |xs| ≥ 2^8 (or
    /// NaN): decoding calls this every 128 rows, and the general path's copy, scale and max passes cost ~10% of a product.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static bool ScaleInputs512(float* x, int n, int cols, int padded, int blockCols, float* scales, float* xs, bool prescale)
    {
        var up = Vector512.Create(prescale ? TwoTo120 : 1f);
        var limit = Vector512.Create(256f);
        var inRange = Vector512<float>.AllBitsSet;
        for (int t = 0; t < n; t++)
        {
            float* src = x + (long)t * cols, dst = xs + (long)t * padded;
            for (int c0 = 0, b = 0; c0 < cols; c0 += blockCols, b++)
            {
                var scale = Vector512.Create(scales[b]);
                for (int c = c0, end = Math.Min(cols, c0 + blockCols); c < end; c += 16)
                {
                    var v = Vector512.Load(src + c) * scale;
                    inRange &= Vector512.LessThan(Vector512.Abs(v), limit); // false for NaN too
                    (v * up).Store(dst + c);
                }
            }
            new Span<float>(dst + cols, padded - cols).Clear();
        }
        if (!prescale) return false;
        if (inRange.AsUInt32() == Vector512<uint>.AllBitsSet) return true; // as integers: all-ones is a NaN as float
        return ScaleInputs512(x, n, cols, padded, blockCols, scales, xs, prescale: false); // again, without 2^120

    }

    /// <summary>Each row straight from its stored bytes against each of a few inputs.</summary>
    private static void DirectRows<TL, TV>(WeightMatrix w, float* x, int n, float* y, int r0, int r1, float* xs)
        where TL : struct, ILanes<TV> where TV : struct
    {
        int rows = w.Rows, cols = w.Cols, padded = PaddedCols(cols);
        byte* tail = stackalloc byte[Chunk];
        float* current = null;
        bool prescaled = false;
        for (int r = r0; r < r1; r++)
        {
            float* scales = w.ScaleRow(r);
            if (scales != current)
            {
                prescaled = ScaleInputs(x, n, cols, padded, w.BlockCols, scales, xs, prescale: true);
                current = scales;
            }
            byte* row = w.Fp8Row(r);
            for (int t = 0; t < n; t++)
                y[(long)t * rows + r] = prescaled
                    ? Direct<TL, TV, Unscaled>(row, cols, xs + (long)t * padded, tail)
                    : Direct<TL, TV, Scaled>(row, cols, xs + (long)t * padded, tail);
        }
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

    /// <summary>16 e4m3 weights as float32 (their values, or value·2^-120 against pre-scaled inputs).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static TV Weights<TL, TV, TS>(byte* p) where TL : struct, ILanes<TV> where TV : struct where TS : struct, IDecodeScale =>
        TS.MultiplyWeights ? TL.Mul(TL.Fp8(p), TwoTo120) : TL.Fp8(p);

    /// <summary>One row against one scaled input (zero-padded to whole steps), e4m3 decoded in registers.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static float Direct<TL, TV, TS>(byte* row, int cols, float* xs, byte* tail)
        where TL : struct, ILanes<TV> where TV : struct where TS : struct, IDecodeScale
    {
        TV total = TL.Zero(), p0, p1, p2, p3;
        int c = 0;
        for (; c + Span <= cols; c += Span)
        {
            p0 = TL.Fma(Weights<TL, TV, TS>(row + c), TL.Load(xs + c), TL.Zero());
            p1 = TL.Fma(Weights<TL, TV, TS>(row + c + Lanes), TL.Load(xs + c + Lanes), TL.Zero());
            p2 = TL.Fma(Weights<TL, TV, TS>(row + c + 2 * Lanes), TL.Load(xs + c + 2 * Lanes), TL.Zero());
            p3 = TL.Fma(Weights<TL, TV, TS>(row + c + 3 * Lanes), TL.Load(xs + c + 3 * Lanes), TL.Zero());
            p0 = TL.Fma(Weights<TL, TV, TS>(row + c + 4 * Lanes), TL.Load(xs + c + 4 * Lanes), p0);
            p1 = TL.Fma(Weights<TL, TV, TS>(row + c + 5 * Lanes), TL.Load(xs + c + 5 * Lanes), p1);
            p2 = TL.Fma(Weights<TL, TV, TS>(row + c + 6 * Lanes), TL.Load(xs + c + 6 * Lanes), p2);
            p3 = TL.Fma(Weights<TL, TV, TS>(row + c + 7 * Lanes), TL.Load(xs + c + 7 * Lanes), p3);
            total = TL.Add(total, TL.Add(TL.Add(p0, p1), TL.Add(p2, p3)));
        }
        if (c < cols)
        {
            // The last, shorter span: whole 64-column steps, then a ragged step with its bytes copied beside zeros
            // (the input is zero-padded already). Plain loops, no calls: a call here would make the JIT keep the
            // accumulators in memory.
            p0 = p1 = p2 = p3 = TL.Zero();
            for (; c < cols; c += Chunk)
            {
                byte* w = row + c;
                if (c + Chunk > cols)
                {
                    for (int j = 0; j < Chunk; j++) tail[j] = c + j < cols ? row[c + j] : (byte)0;
                    w = tail;
                }
                p0 = TL.Fma(Weights<TL, TV, TS>(w), TL.Load(xs + c), p0);
                p1 = TL.Fma(Weights<TL, TV, TS>(w + Lanes), TL.Load(xs + c + Lanes), p1);
                p2 = TL.Fma(Weights<TL, TV, TS>(w + 2 * Lanes), TL.Load(xs + c + 2 * Lanes), p2);
                p3 = TL.Fma(Weights<TL, TV, TS>(w + 3 * Lanes), TL.Load(xs + c + 3 * Lanes), p3);
            }
            total = TL.Add(total, TL.Add(TL.Add(p0, p1), TL.Add(p2, p3)));
        }
        return TL.Sum(total);
    }

    /// <summary>
    /// Rows r0..r1 against n inputs: blocks of rows decoded once into a tile; within a block, each run of rows that
    /// shares its scales is multiplied by the inputs scaled for it, two rows by two inputs at a time, over columns in
    /// slices small enough that both rows and both inputs stay in L1 (the running totals wait in memory between
    /// slices, so the order of the sums is the direct kernel's).
    /// </summary>
    private static void TiledRows<TL, TV>(WeightMatrix w, float* x, int n, float* y, int r0, int r1, float* xs)
        where TL : struct, ILanes<TV> where TV : struct
    {
        int rows = w.Rows, cols = w.Cols, padded = PaddedCols(cols);
        int tileRows = Math.Max(2, TileBytes / (4 * padded)) & ~1;
        float[] tileArray = ArrayPool<float>.Shared.Rent(tileRows * padded + 16);
        float[] totalsArray = ArrayPool<float>.Shared.Rent(tileRows * n * Lanes + 16);
        byte* tail = stackalloc byte[Lanes];
        float* current = null;
        try
        {
            fixed (float* pt = tileArray)
            fixed (float* pq = totalsArray)
            {
                float* tile = Align(pt), totals = Align(pq);
                for (int b0 = r0; b0 < r1; b0 += tileRows)
                {
                    int b1 = Math.Min(r1, b0 + tileRows);
                    for (int r = b0; r < b1; r++) DecodeRow<TL, TV>(w.Fp8Row(r), cols, tile + (long)(r - b0) * padded, tail);
                    for (int run = b0; run < b1;)
                    {
                        float* scales = w.ScaleRow(run);
                        int runEnd = run + 1;
                        while (runEnd < b1 && w.ScaleRow(runEnd) == scales) runEnd++;
                        if (scales != current)
                        {
                            ScaleInputs(x, n, cols, padded, w.BlockCols, scales, xs, prescale: false);
                            current = scales;
                        }
                        new Span<float>(totals, (runEnd - run) * n * Lanes).Clear();
                        float* Total(int r, int t) => totals + ((long)(r - run) * n + t) * Lanes;
                        for (int k0 = 0; k0 < padded; k0 += SliceCols)
                        {
                            int k1 = Math.Min(padded, k0 + SliceCols);
                            for (int ra = run; ra < runEnd; ra += 2)
                            {
                                int rb = Math.Min(ra + 1, runEnd - 1); // an odd last row is paired with itself
                                float* a = tile + (long)(ra - b0) * padded, b = tile + (long)(rb - b0) * padded;
                                for (int t = 0; t < n; t += 2)
                                {
                                    int tb = Math.Min(t + 1, n - 1); // and an odd last input
                                    Tiled<TL, TV>(a, b, xs + (long)t * padded, xs + (long)tb * padded, k0, k1,
                                        Total(ra, t), Total(ra, tb), Total(rb, t), Total(rb, tb));
                                }
                            }
                        }
                        for (int r = run; r < runEnd; r++)
                            for (int t = 0; t < n; t++) y[(long)t * rows + r] = TL.Sum(TL.Load(Total(r, t)));
                        run = runEnd;
                    }
                }
            }
        }
        finally
        {
            ArrayPool<float>.Shared.Return(tileArray);
            ArrayPool<float>.Shared.Return(totalsArray);
        }
    }

    /// <summary>Decodes one row to its true values, zero-padded to whole steps.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void DecodeRow<TL, TV>(byte* row, int cols, float* dst, byte* tail)
        where TL : struct, ILanes<TV> where TV : struct
    {
        int c = 0, padded = PaddedCols(cols);
        for (; c + Lanes <= cols; c += Lanes) TL.Store(dst + c, TL.Mul(TL.Fp8(row + c), TwoTo120));
        for (; c < padded; c += Lanes)
        {
            for (int j = 0; j < Lanes; j++) tail[j] = c + j < cols ? row[c + j] : (byte)0;
            TL.Store(dst + c, TL.Mul(TL.Fp8(tail), TwoTo120));
        }
    }

    /// <summary>
    /// Columns k0..k1 (whole spans) of two decoded rows a, b against two scaled inputs u, v, added span by span to
    /// the running totals of a·u, a·v, b·u and b·v (16 lanes each, in memory between slices).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Tiled<TL, TV>(float* a, float* b, float* u, float* v, int k0, int k1, float* sau, float* sav, float* sbu, float* sbv)
        where TL : struct, ILanes<TV> where TV : struct
    {
        TV tau = TL.Load(sau), tav = TL.Load(sav), tbu = TL.Load(sbu), tbv = TL.Load(sbv);
        for (int c0 = k0; c0 < k1; c0 += Span)
        {
            TV au0 = TL.Zero(), au1 = TL.Zero(), au2 = TL.Zero(), au3 = TL.Zero();
            TV av0 = TL.Zero(), av1 = TL.Zero(), av2 = TL.Zero(), av3 = TL.Zero();
            TV bu0 = TL.Zero(), bu1 = TL.Zero(), bu2 = TL.Zero(), bu3 = TL.Zero();
            TV bv0 = TL.Zero(), bv1 = TL.Zero(), bv2 = TL.Zero(), bv3 = TL.Zero();
            int end = Math.Min(k1, c0 + Span);
            for (int c = c0; c < end; c += Chunk)
            {
                TV wa = TL.Load(a + c), wb = TL.Load(b + c), xu = TL.Load(u + c), xv = TL.Load(v + c);
                au0 = TL.Fma(wa, xu, au0); av0 = TL.Fma(wa, xv, av0); bu0 = TL.Fma(wb, xu, bu0); bv0 = TL.Fma(wb, xv, bv0);
                wa = TL.Load(a + c + Lanes); wb = TL.Load(b + c + Lanes); xu = TL.Load(u + c + Lanes); xv = TL.Load(v + c + Lanes);
                au1 = TL.Fma(wa, xu, au1); av1 = TL.Fma(wa, xv, av1); bu1 = TL.Fma(wb, xu, bu1); bv1 = TL.Fma(wb, xv, bv1);
                wa = TL.Load(a + c + 2 * Lanes); wb = TL.Load(b + c + 2 * Lanes); xu = TL.Load(u + c + 2 * Lanes); xv = TL.Load(v + c + 2 * Lanes);
                au2 = TL.Fma(wa, xu, au2); av2 = TL.Fma(wa, xv, av2); bu2 = TL.Fma(wb, xu, bu2); bv2 = TL.Fma(wb, xv, bv2);
                wa = TL.Load(a + c + 3 * Lanes); wb = TL.Load(b + c + 3 * Lanes); xu = TL.Load(u + c + 3 * Lanes); xv = TL.Load(v + c + 3 * Lanes);
                au3 = TL.Fma(wa, xu, au3); av3 = TL.Fma(wa, xv, av3); bu3 = TL.Fma(wb, xu, bu3); bv3 = TL.Fma(wb, xv, bv3);
            }
            tau = TL.Add(tau, TL.Add(TL.Add(au0, au1), TL.Add(au2, au3)));
            tav = TL.Add(tav, TL.Add(TL.Add(av0, av1), TL.Add(av2, av3)));
            tbu = TL.Add(tbu, TL.Add(TL.Add(bu0, bu1), TL.Add(bu2, bu3)));
            tbv = TL.Add(tbv, TL.Add(TL.Add(bv0, bv1), TL.Add(bv2, bv3)));
        }
        TL.Store(sau, tau);
        TL.Store(sav, tav);
        TL.Store(sbu, tbu);
        TL.Store(sbv, tbv);
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

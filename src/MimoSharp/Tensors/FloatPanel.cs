using System.Buffers;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace MimoSharp.Tensors;

/// <summary>
/// A weight format that <see cref="FloatPanel{TFormat}"/> multiplies: 16-row panels whose weights widen to float32 in
/// registers (<see cref="Fp8Panel"/>, <see cref="Bf16Panel"/>). Each group of 4 columns × 16 rows is
/// <see cref="GroupBytes"/> bytes that decode to four vectors, column phase j in the j-th, row i in lane i.
/// </summary>
internal unsafe interface IFloatPanelFormat<TSelf> where TSelf : struct, IFloatPanelFormat<TSelf>
{
    /// <summary>Bytes of one group of 4 columns × 16 rows.</summary>
    static abstract int GroupBytes { get; }

    /// <summary>Byte offset of row <paramref name="lane"/>'s weight of column phase <paramref name="j"/> within a group.</summary>
    static abstract int Offset(int lane, int j);

    /// <summary>Whether the AVX-512 kernels run (tests switch them off to compare paths).</summary>
    static abstract bool UseAvx512 { get; }

    /// <summary>Whether the portable path uses AVX2.</summary>
    static abstract bool UseAvx2 { get; }

    /// <summary>The factor from <see cref="Decode512"/>'s values to the true weights (FP8: 2^120; 1 where exact).</summary>
    static abstract float DecodeFactor { get; }

    /// <summary>The decoder's constants, made once per kernel call so they stay in registers (inline it, or they do not).</summary>
    static abstract TSelf Decoder();

    /// <summary>A group's 64 weights as four vectors of value / <see cref="DecodeFactor"/>.</summary>
    void Decode512(byte* group, out Vector512<float> w0, out Vector512<float> w1, out Vector512<float> w2, out Vector512<float> w3);

    /// <summary>A group's weights as true values, column phase j at <c>dst + 16·j</c>, with AVX2 where enabled, else per weight.</summary>
    static abstract void DecodePortable(byte* group, float* dst);

    /// <summary>
    /// Identifies the input scaling panel <paramref name="p"/> needs (FP8: its row of block scales); the inputs are
    /// scaled again only where it changes from one panel to the next.
    /// </summary>
    static abstract nint InputKey(WeightMatrix w, int p);

    /// <summary>
    /// n inputs of <paramref name="x"/> (<c>w.Cols</c> apart) scaled for panel <paramref name="p"/> into
    /// <paramref name="xs"/> (<paramref name="padded"/> apart, zero past the last column); with
    /// <paramref name="prescale"/>, also by <see cref="DecodeFactor"/> where that is exact. Returns whether it was.
    /// </summary>
    static abstract bool ScaleInputs(WeightMatrix w, int p, float* x, int n, int padded, float* xs, bool prescale);
}

/// <summary>
/// The kernels shared by the formats kept in 16-row panels and computed in float32 (the Q8_0 panels' scheme,
/// <see cref="Q8_0Panel"/>): one SIMD lane holds one row, the input is broadcast, and no horizontal sums are needed.
/// <para>
/// One fixed order per output element, the same for every instruction set, thread split and batch size: four partial
/// sums per row, one per column phase j = c mod 4, each the fused multiply-adds of its columns in ascending order from
/// +0 (columns padded to a multiple of 4 with zero weights and zero inputs); y = (a0 + a1) + (a2 + a3).
/// </para>
/// <para>
/// Decoding (at most <see cref="DirectMaxInputs"/> inputs) multiplies straight from the panel, the four phases being
/// four independent chains; more inputs (prefill) decode a slice of a panel once into float32 in L1 and multiply it by
/// six inputs at a time (24 accumulators, each decoded column reused six times), which is bound by FMA issue.
/// </para>
/// </summary>
internal static unsafe class FloatPanel<TFormat> where TFormat : struct, IFloatPanelFormat<TFormat>
{
    public const int Rows = 16;
    public const int GroupCols = 4;

    /// <summary>Up to this many inputs, the weights are decoded in registers per pass; beyond, once into a slice.</summary>
    public const int DirectMaxInputs = 4;

    /// <summary>Columns of a panel decoded at once in the sliced path: 16 KB of float32, half of L1.</summary>
    private const int SliceCols = 256;

    /// <summary>Inputs whose scaled copies are kept at once in the sliced path (bounds the scratch memory).</summary>
    private const int InputBlock = 64;

    public static int Panels(int rows) => (rows + Rows - 1) / Rows;

    public static int Groups(int cols) => (cols + GroupCols - 1) / GroupCols;

    public static long Bytes(int rows, int cols) => (long)Panels(rows) * Groups(cols) * TFormat.GroupBytes;

    /// <summary>
    /// Writes [rows, cols] values stored row by row into zeroed panel memory (<see cref="Bytes"/> long), a run of whole
    /// panels per job so threads never share a panel.
    /// </summary>
    public static void PackRows<T>(T* source, int rows, int cols, byte* packed) where T : unmanaged
    {
        int panels = Panels(rows), jobs = Math.Min(panels, 64), per = (panels + jobs - 1) / jobs;
        nint from = (nint)source, to = (nint)packed;
        ComputePool.For(jobs, job =>
        {
            for (int r = job * per * Rows; r < Math.Min(rows, (job + 1) * per * Rows); r++)
                PackRow(new ReadOnlySpan<T>((T*)from + (long)r * cols, cols), r, (byte*)to, cols);
        });
    }

    /// <summary>Writes row <paramref name="r"/> into its panel; rows and columns never written stay zero.</summary>
    private static void PackRow<T>(ReadOnlySpan<T> row, int r, byte* packed, int cols) where T : unmanaged
    {
        int groups = Groups(cols), lane = r % Rows, groupBytes = TFormat.GroupBytes;
        byte* panel = packed + (long)(r / Rows) * groups * groupBytes;
        int o0 = TFormat.Offset(lane, 0), o1 = TFormat.Offset(lane, 1), o2 = TFormat.Offset(lane, 2), o3 = TFormat.Offset(lane, 3);
        byte* dst = panel;
        int c = 0;
        for (; c + GroupCols <= cols; c += GroupCols, dst += groupBytes)
        {
            *(T*)(dst + o0) = row[c];
            *(T*)(dst + o1) = row[c + 1];
            *(T*)(dst + o2) = row[c + 2];
            *(T*)(dst + o3) = row[c + 3];
        }
        for (int j = 0; c < cols; c++, j++) *(T*)(dst + TFormat.Offset(lane, j)) = row[c];
    }

    /// <summary>Reads row <paramref name="r"/> back as stored (the inverse of <see cref="PackRow{T}"/>).</summary>
    public static void UnpackRow<T>(byte* packed, int r, int cols, Span<T> row) where T : unmanaged
    {
        int groups = Groups(cols), lane = r % Rows, groupBytes = TFormat.GroupBytes;
        byte* panel = packed + (long)(r / Rows) * groups * groupBytes;
        for (int c = 0; c < cols; c++) row[c] = *(T*)(panel + (long)(c / GroupCols) * groupBytes + TFormat.Offset(lane, c % GroupCols));
    }

    /// <summary>y[t, r] for panels p0..p1 of <paramref name="w"/> and n inputs of <paramref name="x"/>, rows of y <c>w.Rows</c> apart.</summary>
    public static void Multiply(WeightMatrix w, byte* panels, float* x, int n, float* y, int p0, int p1)
    {
        int cols = w.Cols, padded = Groups(cols) * GroupCols, block = Math.Min(n, InputBlock);
        float[] scratch = ArrayPool<float>.Shared.Rent(block * padded + block * 4 * Rows + SliceCols * Rows + 48);
        try
        {
            fixed (float* ps = scratch)
            {
                float* xs = Align(ps), acc = Align(xs + block * padded), slice = Align(acc + block * 4 * Rows);
                for (int t0 = 0; t0 < n; t0 += InputBlock)
                    Panels(w, panels, x + (long)t0 * cols, Math.Min(InputBlock, n - t0), y + (long)t0 * w.Rows, p0, p1, xs, acc, slice);
            }
        }
        finally
        {
            ArrayPool<float>.Shared.Return(scratch);
        }
    }

    private static float* Align(float* p) => (float*)(((nint)p + 63) & ~(nint)63);

    private static void Panels(WeightMatrix w, byte* panels, float* x, int n, float* y, int p0, int p1, float* xs, float* acc, float* slice)
    {
        int rows = w.Rows, cols = w.Cols, groups = Groups(cols), padded = groups * GroupCols;
        bool avx512 = TFormat.UseAvx512, direct = avx512 && n <= DirectMaxInputs;
        nint current = 0;
        bool prescaled = false;
        for (int p = p0; p < p1; p++)
        {
            nint key = TFormat.InputKey(w, p);
            if (key != current)
            {
                // Pre-scaling by the decode factor lets the direct kernel skip a multiply per 16 weights; the sliced
                // path decodes true values once, so it needs none.
                prescaled = TFormat.ScaleInputs(w, p, x, n, padded, xs, prescale: direct);
                current = key;
            }
            byte* panel = panels + (long)p * groups * TFormat.GroupBytes;
            if (direct)
            {
                if (prescaled) Direct<Unscaled>(panel, groups, xs, padded, n, acc);
                else Direct<Scaled>(panel, groups, xs, padded, n, acc);
            }
            else
            {
                new Span<float>(acc, n * 4 * Rows).Clear();
                for (int g0 = 0; g0 < groups; g0 += SliceCols / GroupCols)
                {
                    int g1 = Math.Min(groups, g0 + SliceCols / GroupCols);
                    if (avx512) DecodeSlice512(panel, g0, g1, slice);
                    else DecodeSlicePortable(panel, g0, g1, slice);
                    int t = 0;
                    if (avx512)
                        for (; t < n; t += 6)
                            switch (n - t)
                            {
                                case 1: Sliced<One>(slice, g0, g1, xs + (long)t * padded, padded, acc + t * 4 * Rows); break;
                                case 2: Sliced<Two>(slice, g0, g1, xs + (long)t * padded, padded, acc + t * 4 * Rows); break;
                                case 3: Sliced<Three>(slice, g0, g1, xs + (long)t * padded, padded, acc + t * 4 * Rows); break;
                                case 4: Sliced<Four>(slice, g0, g1, xs + (long)t * padded, padded, acc + t * 4 * Rows); break;
                                case 5: Sliced<Five>(slice, g0, g1, xs + (long)t * padded, padded, acc + t * 4 * Rows); break;
                                default: Sliced<Six>(slice, g0, g1, xs + (long)t * padded, padded, acc + t * 4 * Rows); break;
                            }
                    else
                        for (; t < n; t++) SlicedPortable(slice, g0, g1, xs + (long)t * padded, acc + t * 4 * Rows);
                }
            }
            int r0 = p * Rows, valid = Math.Min(Rows, rows - r0);
            for (int t = 0; t < n; t++)
            {
                float* a = acc + t * 4 * Rows, yt = y + (long)t * rows + r0;
                for (int i = 0; i < valid; i++) yt[i] = (a[i] + a[Rows + i]) + (a[2 * Rows + i] + a[3 * Rows + i]);
            }
        }
    }

    /// <summary>How many inputs a kernel instance multiplies at once (the JIT removes the unused ones' code).</summary>
    private interface ICount
    {
        static abstract int N { get; }
    }

    private struct One : ICount { public static int N => 1; }

    private struct Two : ICount { public static int N => 2; }

    private struct Three : ICount { public static int N => 3; }

    private struct Four : ICount { public static int N => 4; }

    private struct Five : ICount { public static int N => 5; }

    private struct Six : ICount { public static int N => 6; }

    /// <summary>Whether the direct kernel multiplies decoded weights by the decode factor (inputs not pre-scaled).</summary>
    private interface IDecodeScale
    {
        static abstract bool MultiplyWeights { get; }
    }

    private struct Scaled : IDecodeScale { public static bool MultiplyWeights => true; }

    private struct Unscaled : IDecodeScale { public static bool MultiplyWeights => false; }

    /// <summary>
    /// One panel against up to four scaled inputs (<paramref name="stride"/> apart), weights decoded in registers;
    /// leaves each input's four phase sums (16 lanes each) in <paramref name="acc"/>.
    /// </summary>
    private static void Direct<TS>(byte* panel, int groups, float* xs, int stride, int n, float* acc) where TS : struct, IDecodeScale
    {
        for (int t = 0; t < n;)
        {
            int m = n - t;
            float* a = acc + t * 4 * Rows, x = xs + (long)t * stride;
            if (m >= 4) { Direct<Four, TS>(panel, groups, x, stride, a); t += 4; }
            else if (m == 3) { Direct<Three, TS>(panel, groups, x, stride, a); t += 3; }
            else if (m == 2) { Direct<Two, TS>(panel, groups, x, stride, a); t += 2; }
            else { Direct<One, TS>(panel, groups, x, stride, a); t += 1; }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Direct<TN, TS>(byte* panel, int groups, float* xs, int stride, float* acc)
        where TN : struct, ICount where TS : struct, IDecodeScale
    {
        var decoder = TFormat.Decoder();
        var up = Vector512.Create(TFormat.DecodeFactor);
        int groupBytes = TFormat.GroupBytes;
        float* x0 = xs, x1 = xs + stride, x2 = xs + 2 * stride, x3 = xs + 3 * stride;
        Vector512<float> a00 = default, a01 = default, a02 = default, a03 = default;
        Vector512<float> a10 = default, a11 = default, a12 = default, a13 = default;
        Vector512<float> a20 = default, a21 = default, a22 = default, a23 = default;
        Vector512<float> a30 = default, a31 = default, a32 = default, a33 = default;
        for (int g = 0, c = 0; g < groups; g++, c += GroupCols, panel += groupBytes)
        {
            decoder.Decode512(panel, out var w0, out var w1, out var w2, out var w3);
            if (TS.MultiplyWeights)
            {
                w0 *= up; w1 *= up; w2 *= up; w3 *= up;
            }
            a00 = Avx512F.FusedMultiplyAdd(w0, Vector512.Create(x0[c]), a00);
            a01 = Avx512F.FusedMultiplyAdd(w1, Vector512.Create(x0[c + 1]), a01);
            a02 = Avx512F.FusedMultiplyAdd(w2, Vector512.Create(x0[c + 2]), a02);
            a03 = Avx512F.FusedMultiplyAdd(w3, Vector512.Create(x0[c + 3]), a03);
            if (TN.N > 1)
            {
                a10 = Avx512F.FusedMultiplyAdd(w0, Vector512.Create(x1[c]), a10);
                a11 = Avx512F.FusedMultiplyAdd(w1, Vector512.Create(x1[c + 1]), a11);
                a12 = Avx512F.FusedMultiplyAdd(w2, Vector512.Create(x1[c + 2]), a12);
                a13 = Avx512F.FusedMultiplyAdd(w3, Vector512.Create(x1[c + 3]), a13);
            }
            if (TN.N > 2)
            {
                a20 = Avx512F.FusedMultiplyAdd(w0, Vector512.Create(x2[c]), a20);
                a21 = Avx512F.FusedMultiplyAdd(w1, Vector512.Create(x2[c + 1]), a21);
                a22 = Avx512F.FusedMultiplyAdd(w2, Vector512.Create(x2[c + 2]), a22);
                a23 = Avx512F.FusedMultiplyAdd(w3, Vector512.Create(x2[c + 3]), a23);
            }
            if (TN.N > 3)
            {
                a30 = Avx512F.FusedMultiplyAdd(w0, Vector512.Create(x3[c]), a30);
                a31 = Avx512F.FusedMultiplyAdd(w1, Vector512.Create(x3[c + 1]), a31);
                a32 = Avx512F.FusedMultiplyAdd(w2, Vector512.Create(x3[c + 2]), a32);
                a33 = Avx512F.FusedMultiplyAdd(w3, Vector512.Create(x3[c + 3]), a33);
            }
        }
        Store4(acc, a00, a01, a02, a03);
        if (TN.N > 1) Store4(acc + 4 * Rows, a10, a11, a12, a13);
        if (TN.N > 2) Store4(acc + 8 * Rows, a20, a21, a22, a23);
        if (TN.N > 3) Store4(acc + 12 * Rows, a30, a31, a32, a33);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Store4(float* p, Vector512<float> a0, Vector512<float> a1, Vector512<float> a2, Vector512<float> a3)
    {
        a0.Store(p);
        a1.Store(p + Rows);
        a2.Store(p + 2 * Rows);
        a3.Store(p + 3 * Rows);
    }

    /// <summary>Groups g0..g1 of a panel decoded to true values, group by group as four 16-row columns.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void DecodeSlice512(byte* panel, int g0, int g1, float* slice)
    {
        var decoder = TFormat.Decoder();
        var up = Vector512.Create(TFormat.DecodeFactor);
        for (int g = g0; g < g1; g++, slice += 4 * Rows)
        {
            decoder.Decode512(panel + (long)g * TFormat.GroupBytes, out var w0, out var w1, out var w2, out var w3);
            if (TFormat.DecodeFactor != 1f)
            {
                w0 *= up; w1 *= up; w2 *= up; w3 *= up;
            }
            w0.Store(slice);
            w1.Store(slice + Rows);
            w2.Store(slice + 2 * Rows);
            w3.Store(slice + 3 * Rows);
        }
    }

    private static void DecodeSlicePortable(byte* panel, int g0, int g1, float* slice)
    {
        for (int g = g0; g < g1; g++, slice += 4 * Rows) TFormat.DecodePortable(panel + (long)g * TFormat.GroupBytes, slice);
    }

    /// <summary>
    /// Decoded groups g0..g1 (in <paramref name="slice"/>) against up to six unscaled inputs, added to their phase sums
    /// in <paramref name="acc"/>: per group, four column loads and 4·N multiply-adds with broadcast inputs.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Sliced<TN>(float* slice, int g0, int g1, float* xs, int stride, float* acc) where TN : struct, ICount
    {
        float* x0 = xs, x1 = xs + stride, x2 = xs + 2 * stride, x3 = xs + 3 * stride, x4 = xs + 4 * stride, x5 = xs + 5 * stride;
        Vector512<float> a00 = Vector512.Load(acc), a01 = Vector512.Load(acc + Rows), a02 = Vector512.Load(acc + 2 * Rows), a03 = Vector512.Load(acc + 3 * Rows);
        Vector512<float> a10 = default, a11 = default, a12 = default, a13 = default;
        Vector512<float> a20 = default, a21 = default, a22 = default, a23 = default;
        Vector512<float> a30 = default, a31 = default, a32 = default, a33 = default;
        Vector512<float> a40 = default, a41 = default, a42 = default, a43 = default;
        Vector512<float> a50 = default, a51 = default, a52 = default, a53 = default;
        if (TN.N > 1) Load4(acc + 4 * Rows, out a10, out a11, out a12, out a13);
        if (TN.N > 2) Load4(acc + 8 * Rows, out a20, out a21, out a22, out a23);
        if (TN.N > 3) Load4(acc + 12 * Rows, out a30, out a31, out a32, out a33);
        if (TN.N > 4) Load4(acc + 16 * Rows, out a40, out a41, out a42, out a43);
        if (TN.N > 5) Load4(acc + 20 * Rows, out a50, out a51, out a52, out a53);
        for (int c = g0 * GroupCols, end = g1 * GroupCols; c < end; c += GroupCols, slice += 4 * Rows)
        {
            var w0 = Vector512.Load(slice);
            a00 = Avx512F.FusedMultiplyAdd(w0, Vector512.Create(x0[c]), a00);
            if (TN.N > 1) a10 = Avx512F.FusedMultiplyAdd(w0, Vector512.Create(x1[c]), a10);
            if (TN.N > 2) a20 = Avx512F.FusedMultiplyAdd(w0, Vector512.Create(x2[c]), a20);
            if (TN.N > 3) a30 = Avx512F.FusedMultiplyAdd(w0, Vector512.Create(x3[c]), a30);
            if (TN.N > 4) a40 = Avx512F.FusedMultiplyAdd(w0, Vector512.Create(x4[c]), a40);
            if (TN.N > 5) a50 = Avx512F.FusedMultiplyAdd(w0, Vector512.Create(x5[c]), a50);
            var w1 = Vector512.Load(slice + Rows);
            a01 = Avx512F.FusedMultiplyAdd(w1, Vector512.Create(x0[c + 1]), a01);
            if (TN.N > 1) a11 = Avx512F.FusedMultiplyAdd(w1, Vector512.Create(x1[c + 1]), a11);
            if (TN.N > 2) a21 = Avx512F.FusedMultiplyAdd(w1, Vector512.Create(x2[c + 1]), a21);
            if (TN.N > 3) a31 = Avx512F.FusedMultiplyAdd(w1, Vector512.Create(x3[c + 1]), a31);
            if (TN.N > 4) a41 = Avx512F.FusedMultiplyAdd(w1, Vector512.Create(x4[c + 1]), a41);
            if (TN.N > 5) a51 = Avx512F.FusedMultiplyAdd(w1, Vector512.Create(x5[c + 1]), a51);
            var w2 = Vector512.Load(slice + 2 * Rows);
            a02 = Avx512F.FusedMultiplyAdd(w2, Vector512.Create(x0[c + 2]), a02);
            if (TN.N > 1) a12 = Avx512F.FusedMultiplyAdd(w2, Vector512.Create(x1[c + 2]), a12);
            if (TN.N > 2) a22 = Avx512F.FusedMultiplyAdd(w2, Vector512.Create(x2[c + 2]), a22);
            if (TN.N > 3) a32 = Avx512F.FusedMultiplyAdd(w2, Vector512.Create(x3[c + 2]), a32);
            if (TN.N > 4) a42 = Avx512F.FusedMultiplyAdd(w2, Vector512.Create(x4[c + 2]), a42);
            if (TN.N > 5) a52 = Avx512F.FusedMultiplyAdd(w2, Vector512.Create(x5[c + 2]), a52);
            var w3 = Vector512.Load(slice + 3 * Rows);
            a03 = Avx512F.FusedMultiplyAdd(w3, Vector512.Create(x0[c + 3]), a03);
            if (TN.N > 1) a13 = Avx512F.FusedMultiplyAdd(w3, Vector512.Create(x1[c + 3]), a13);
            if (TN.N > 2) a23 = Avx512F.FusedMultiplyAdd(w3, Vector512.Create(x2[c + 3]), a23);
            if (TN.N > 3) a33 = Avx512F.FusedMultiplyAdd(w3, Vector512.Create(x3[c + 3]), a33);
            if (TN.N > 4) a43 = Avx512F.FusedMultiplyAdd(w3, Vector512.Create(x4[c + 3]), a43);
            if (TN.N > 5) a53 = Avx512F.FusedMultiplyAdd(w3, Vector512.Create(x5[c + 3]), a53);
        }
        Store4(acc, a00, a01, a02, a03);
        if (TN.N > 1) Store4(acc + 4 * Rows, a10, a11, a12, a13);
        if (TN.N > 2) Store4(acc + 8 * Rows, a20, a21, a22, a23);
        if (TN.N > 3) Store4(acc + 12 * Rows, a30, a31, a32, a33);
        if (TN.N > 4) Store4(acc + 16 * Rows, a40, a41, a42, a43);
        if (TN.N > 5) Store4(acc + 20 * Rows, a50, a51, a52, a53);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Load4(float* p, out Vector512<float> a0, out Vector512<float> a1, out Vector512<float> a2, out Vector512<float> a3)
    {
        a0 = Vector512.Load(p);
        a1 = Vector512.Load(p + Rows);
        a2 = Vector512.Load(p + 2 * Rows);
        a3 = Vector512.Load(p + 3 * Rows);
    }

    /// <summary>The sliced product for one input with AVX2 (8-lane halves) or scalar fused multiply-adds: the same sums.</summary>
    private static void SlicedPortable(float* slice, int g0, int g1, float* xs, float* acc)
    {
        for (int j = 0; j < GroupCols; j++)
        {
            float* a = acc + j * Rows;
            if (TFormat.UseAvx2)
            {
                for (int h = 0; h < 2; h++)
                {
                    var s = Vector256.Load(a + 8 * h);
                    for (int g = g0; g < g1; g++)
                        s = Fma.MultiplyAdd(Vector256.Load(slice + (g - g0) * 4 * Rows + j * Rows + 8 * h), Vector256.Create(xs[g * GroupCols + j]), s);
                    s.Store(a + 8 * h);
                }
            }
            else
            {
                for (int i = 0; i < Rows; i++)
                {
                    float s = a[i];
                    for (int g = g0; g < g1; g++) s = MathF.FusedMultiplyAdd(slice[(g - g0) * 4 * Rows + j * Rows + i], xs[g * GroupCols + j], s);
                    a[i] = s;
                }
            }
        }
    }
}

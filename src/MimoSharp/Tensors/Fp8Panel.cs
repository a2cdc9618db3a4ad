using System.Buffers;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace MimoSharp.Tensors;

/// <summary>
/// FP8 e4m3 weights repacked at load into panels of 16 rows (the bytes unchanged, one per weight), so that one SIMD
/// lane holds one row, the input is broadcast, and no horizontal sums are needed — the Q8_0 panels' scheme
/// (<see cref="Q8_0Panel"/>). Within a panel, each group of 4 columns is 64 bytes: row i's byte for column 4g + j sits
/// at <c>16·(i / 4) + 4·j + i % 4</c>, which is where AVX-512's in-lane byte and word unpacks put row i of column j.
/// <para>
/// Decoding 64 weights takes 8 shuffle-class instructions: two GFNI affine byte transforms give each weight's two
/// upper float32 bytes (<c>e0·2^7 + m·2^4</c> and <c>s·2^7 + e3e2e1</c>, i.e. the float32 bit pattern of
/// value · 2^-120, subnormals included), two byte unpacks pair them into 16-bit halves, four word unpacks with zero
/// make the float32s. The shift decode of <see cref="Fp8Block"/> needs 12 for the same 64 (a sign extension, a shift
/// and a mask per 16), which is what bounded it.
/// </para>
/// <para>
/// One fixed order per output element, the same for every instruction set, thread split and batch size: the block
/// scale goes on the input (<c>xs[c] = x[c] · scale[r, c / BlockCols]</c>, every row of a panel sharing one row of
/// scales); four partial sums per row, one per column phase j = c mod 4, each the fused multiply-adds of its columns in
/// ascending order from +0 (columns padded to a multiple of 4 with zero weights and zero inputs); y = (a0 + a1) + (a2 +
/// a3). A row holding an e4m3 NaN code gives NaN.
/// </para>
/// <para>
/// Decoding (at most <see cref="DirectMaxInputs"/> inputs) multiplies straight from the bytes, the four phases being
/// four independent chains; more inputs (prefill) decode a slice of a panel once into float32 in L1 and multiply it by
/// six inputs at a time (24 accumulators, each decoded column reused six times), which is bound by FMA issue.
/// </para>
/// </summary>
public static unsafe class Fp8Panel
{
    public const int Rows = 16;
    private const int GroupCols = 4;
    private const int GroupBytes = Rows * GroupCols;

    /// <summary>Use the AVX-512 (BW + GFNI) kernels where the CPU has them (tests switch them off to compare paths).</summary>
    internal static bool Avx512Enabled { get; set; } = Avx512BW.IsSupported && Gfni.V512.IsSupported;

    /// <summary>Use AVX2 for the portable path where the CPU has it.</summary>
    internal static bool Avx2Enabled { get; set; } = Avx2.IsSupported && Fma.IsSupported;

    /// <summary>Up to this many inputs, the weights are decoded in registers per pass; beyond, once into a slice.</summary>
    public const int DirectMaxInputs = 4;

    /// <summary>Columns of a panel decoded at once in the sliced path: 16 KB of float32, half of L1.</summary>
    private const int SliceCols = 256;

    /// <summary>Inputs whose scaled copies are kept at once in the sliced path (bounds the scratch memory).</summary>
    private const int InputBlock = 64;

    public static int Panels(int rows) => (rows + Rows - 1) / Rows;

    public static int Groups(int cols) => (cols + GroupCols - 1) / GroupCols;

    public static long Bytes(int rows, int cols) => (long)Panels(rows) * Groups(cols) * GroupBytes;

    /// <summary>Offset of row <paramref name="lane"/>'s byte for column phase <paramref name="j"/> within a group.</summary>
    private static int Offset(int lane, int j) => 16 * (lane / 4) + 4 * j + lane % 4;

    /// <summary>Writes row <paramref name="r"/> (e4m3 bytes) into its panel; rows and columns never written stay zero.</summary>
    public static void PackRow(ReadOnlySpan<byte> row, int r, byte* packed, int cols)
    {
        int groups = Groups(cols), lane = r % Rows;
        byte* dst = packed + (long)(r / Rows) * groups * GroupBytes + Offset(lane, 0);
        int c = 0;
        for (; c + GroupCols <= cols; c += GroupCols, dst += GroupBytes)
        {
            dst[0] = row[c];
            dst[4] = row[c + 1];
            dst[8] = row[c + 2];
            dst[12] = row[c + 3];
        }
        for (int j = 0; c < cols; c++, j++) dst[4 * j] = row[c];
    }

    /// <summary>Reads row <paramref name="r"/> back as e4m3 bytes (the inverse of <see cref="PackRow"/>).</summary>
    public static void UnpackRow(byte* packed, int r, int cols, Span<byte> row)
    {
        int groups = Groups(cols), lane = r % Rows;
        byte* panel = packed + (long)(r / Rows) * groups * GroupBytes;
        for (int c = 0; c < cols; c++) row[c] = panel[(long)(c / GroupCols) * GroupBytes + Offset(lane, c % GroupCols)];
    }

    /// <summary>y[t, r] for panels p0..p1 and n inputs of <paramref name="x"/>, rows of y <c>w.Rows</c> apart.</summary>
    public static void Multiply(WeightMatrix w, float* x, int n, float* y, int p0, int p1)
    {
        int cols = w.Cols, padded = Groups(cols) * GroupCols, block = Math.Min(n, InputBlock);
        float[] scratch = ArrayPool<float>.Shared.Rent(block * padded + block * 4 * Rows + SliceCols * Rows + 48);
        try
        {
            fixed (float* ps = scratch)
            {
                float* xs = Align(ps), acc = Align(xs + block * padded), slice = Align(acc + block * 4 * Rows);
                for (int t0 = 0; t0 < n; t0 += InputBlock)
                    Panels(w, x + (long)t0 * cols, Math.Min(InputBlock, n - t0), y + (long)t0 * w.Rows, p0, p1, xs, acc, slice);
            }
        }
        finally
        {
            ArrayPool<float>.Shared.Return(scratch);
        }
        int r0 = p0 * Rows, r1 = Math.Min(w.Rows, p1 * Rows);
        foreach (int r in w.Fp8NanRows)
            if (r >= r0 && r < r1)
                for (int t = 0; t < n; t++) y[(long)t * w.Rows + r] = float.NaN;
    }

    private static float* Align(float* p) => (float*)(((nint)p + 63) & ~(nint)63);

    private static void Panels(WeightMatrix w, float* x, int n, float* y, int p0, int p1, float* xs, float* acc, float* slice)
    {
        int rows = w.Rows, cols = w.Cols, groups = Groups(cols), padded = groups * GroupCols;
        bool direct = Avx512Enabled && n <= DirectMaxInputs;
        float* current = null;
        bool prescaled = false;
        for (int p = p0; p < p1; p++)
        {
            float* scales = w.ScaleRow(p * Rows);
            if (scales != current)
            {
                // Pre-scaling by 2^120 lets the direct kernel skip a multiply per 16 weights; the sliced path decodes
                // true values once, so it needs none.
                prescaled = Fp8Block.ScaleInputs(x, n, cols, padded, w.BlockCols, scales, xs, prescale: direct);
                current = scales;
            }
            byte* panel = w.Fp8Panels + (long)p * groups * GroupBytes;
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
                    if (Avx512Enabled) DecodeSlice512(panel, g0, g1, slice);
                    else DecodeSlicePortable(panel, g0, g1, slice);
                    int t = 0;
                    if (Avx512Enabled)
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

    /// <summary>Whether the direct kernel multiplies decoded weights by 2^120 (inputs not pre-scaled).</summary>
    private interface IDecodeScale
    {
        static abstract bool MultiplyWeights { get; }
    }

    private struct Scaled : IDecodeScale { public static bool MultiplyWeights => true; }

    private struct Unscaled : IDecodeScale { public static bool MultiplyWeights => false; }

    /// <summary>GFNI matrices (result bit i = parity of the byte and matrix byte 7 - i) giving float32 bytes 2 and 3.</summary>
    private static readonly ulong Byte2Matrix = BitMatrix(i => i >= 4 ? i - 4 : -1);                  // (b << 4) & 0xF0
    private static readonly ulong Byte3Matrix = BitMatrix(i => i == 7 ? 7 : i <= 2 ? i + 4 : -1);     // (b & 0x80) | ((b >> 4) & 7)

    private static ulong BitMatrix(Func<int, int> sourceBit)
    {
        ulong m = 0;
        for (int i = 0; i < 8; i++)
            if (sourceBit(i) is int s and >= 0) m |= (ulong)(1 << s) << (8 * (7 - i));
        return m;
    }

    /// <summary>A group's 64 weights as four vectors of float32 value · 2^-120, column phase j in <paramref name="w0"/>..w3, row i in lane i.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Decode512(byte* group, Vector512<byte> m2, Vector512<byte> m3,
        out Vector512<float> w0, out Vector512<float> w1, out Vector512<float> w2, out Vector512<float> w3)
    {
        var raw = Vector512.Load(group);
        var b2 = Gfni.V512.GaloisFieldAffineTransform(raw, m2, 0);
        var b3 = Gfni.V512.GaloisFieldAffineTransform(raw, m3, 0);
        var low = Avx512BW.UnpackLow(b2, b3).AsUInt16();
        var high = Avx512BW.UnpackHigh(b2, b3).AsUInt16();
        w0 = Avx512BW.UnpackLow(Vector512<ushort>.Zero, low).AsSingle();
        w1 = Avx512BW.UnpackHigh(Vector512<ushort>.Zero, low).AsSingle();
        w2 = Avx512BW.UnpackLow(Vector512<ushort>.Zero, high).AsSingle();
        w3 = Avx512BW.UnpackHigh(Vector512<ushort>.Zero, high).AsSingle();
    }

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
        var m2 = Vector512.Create(Byte2Matrix).AsByte();
        var m3 = Vector512.Create(Byte3Matrix).AsByte();
        var up = Vector512.Create(Fp8Block.TwoTo120);
        float* x0 = xs, x1 = xs + stride, x2 = xs + 2 * stride, x3 = xs + 3 * stride;
        Vector512<float> a00 = default, a01 = default, a02 = default, a03 = default;
        Vector512<float> a10 = default, a11 = default, a12 = default, a13 = default;
        Vector512<float> a20 = default, a21 = default, a22 = default, a23 = default;
        Vector512<float> a30 = default, a31 = default, a32 = default, a33 = default;
        for (int g = 0, c = 0; g < groups; g++, c += GroupCols, panel += GroupBytes)
        {
            Decode512(panel, m2, m3, out var w0, out var w1, out var w2, out var w3);
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
        var m2 = Vector512.Create(Byte2Matrix).AsByte();
        var m3 = Vector512.Create(Byte3Matrix).AsByte();
        var up = Vector512.Create(Fp8Block.TwoTo120);
        for (int g = g0; g < g1; g++, slice += GroupBytes)
        {
            Decode512(panel + (long)g * GroupBytes, m2, m3, out var w0, out var w1, out var w2, out var w3);
            (w0 * up).Store(slice);
            (w1 * up).Store(slice + Rows);
            (w2 * up).Store(slice + 2 * Rows);
            (w3 * up).Store(slice + 3 * Rows);
        }
    }

    private const int Fp8Mask = unchecked((int)0x87F00000); // sign, then e4m3's exponent and mantissa under float32's

    /// <summary>The same decode without GFNI: each 8-row half of a column sign-extended, shifted and masked (AVX2), or per byte.</summary>
    private static void DecodeSlicePortable(byte* panel, int g0, int g1, float* slice)
    {
        for (int g = g0; g < g1; g++, slice += GroupBytes)
        {
            byte* group = panel + (long)g * GroupBytes;
            for (int j = 0; j < GroupCols; j++)
            {
                float* dst = slice + j * Rows;
                if (Avx2Enabled)
                {
                    for (int h = 0; h < 2; h++)
                    {
                        // Rows 8h..8h+3 and 8h+4..8h+7 of phase j are two 4-byte runs 16 bytes apart.
                        var bytes = Vector128.Create(*(int*)(group + 32 * h + 4 * j), *(int*)(group + 32 * h + 16 + 4 * j), 0, 0).AsSByte();
                        var bits = Avx2.And(Avx2.ShiftLeftLogical(Avx2.ConvertToVector256Int32(bytes), 20), Vector256.Create(Fp8Mask));
                        (bits.AsSingle() * Vector256.Create(Fp8Block.TwoTo120)).Store(dst + 8 * h);
                    }
                }
                else
                {
                    for (int i = 0; i < Rows; i++) dst[i] = Fp8E4M3.Table[group[Offset(i, j)]];
                }
            }
        }
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
        for (int c = g0 * GroupCols, end = g1 * GroupCols; c < end; c += GroupCols, slice += GroupBytes)
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
            if (Avx2Enabled)
            {
                for (int h = 0; h < 2; h++)
                {
                    var s = Vector256.Load(a + 8 * h);
                    for (int g = g0; g < g1; g++)
                        s = Fma.MultiplyAdd(Vector256.Load(slice + (g - g0) * GroupBytes + j * Rows + 8 * h), Vector256.Create(xs[g * GroupCols + j]), s);
                    s.Store(a + 8 * h);
                }
            }
            else
            {
                for (int i = 0; i < Rows; i++)
                {
                    float s = a[i];
                    for (int g = g0; g < g1; g++) s = MathF.FusedMultiplyAdd(slice[(g - g0) * GroupBytes + j * Rows + i], xs[g * GroupCols + j], s);
                    a[i] = s;
                }
            }
        }
    }
}

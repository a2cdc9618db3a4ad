using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace MimoSharp.Tensors;

/// <summary>
/// Q8_0 weights repacked at load into panels of 16 rows, so one SIMD lane holds one row and a block's 32 products
/// per row reduce without horizontal sums. Per panel and 32-column block (<see cref="BlockBytes"/> = 544 bytes, the
/// same 34 bytes per row as ggml): the 16 rows' f16 scales, then for each group of 4 columns the 16 rows' 4 quants,
/// so a 64-byte load holds 4 columns of 16 rows. .NET exposes no AVX-512 VNNI, so the kernel uses ggml's AVX2 trick at
/// 512 bits: |w| (unsigned) times x with w's sign (<c>vpmaddubsw</c>, which cannot saturate for |q| ≤ 127), then
/// pairs summed to int32 (<c>vpmaddwd</c>).
/// <para>
/// Every row's result is Σ over blocks in order of fma((float)q_w·q_x, d_w·d_x, acc): the integer block sum is exact,
/// so the AVX-512, AVX2 and scalar paths, and every tiling of inputs, give the same bits (batch invariance).
/// </para>
/// </summary>
public static unsafe class Q8_0Panel
{
    public const int Rows = 16;
    private const int BlockValues = Q8_0.BlockValues;
    private const int ScaleBytes = Rows * 2;
    private const int GroupValues = 4;
    private const int GroupBytes = Rows * GroupValues;
    public const int BlockBytes = ScaleBytes + BlockValues / GroupValues * GroupBytes;

    /// <summary>Whether the AVX-512 kernels run (tests turn them off to check the AVX2 path gives the same bits).</summary>
    internal static bool Avx512Enabled { get; set; } = Avx512BW.IsSupported;

    public static int Panels(int rows) => (rows + Rows - 1) / Rows;

    public static int Blocks(int cols) => (cols + BlockValues - 1) / BlockValues;

    public static long Bytes(int rows, int cols) => (long)Panels(rows) * Blocks(cols) * BlockBytes;

    /// <summary>Offset of row <paramref name="lane"/>'s quant <paramref name="i"/> (0..31) inside a panel block.</summary>
    private static int QuantOffset(int lane, int i) => ScaleBytes + i / GroupValues * GroupBytes + lane * GroupValues + i % GroupValues;

    /// <summary>Writes row <paramref name="r"/> (ggml Q8_0 blocks) into its panel; rows never written stay zero.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void PackRow(ReadOnlySpan<byte> row, int r, Span<byte> packed, int blocks)
    {
        var panel = packed.Slice(checked((r / Rows) * blocks * BlockBytes), blocks * BlockBytes);
        int lane = r % Rows;
        for (int b = 0; b < blocks; b++)
        {
            var src = row.Slice(b * Q8_0.BlockBytes, Q8_0.BlockBytes);
            var dst = panel.Slice(b * BlockBytes, BlockBytes);
            dst[lane * 2] = src[0];
            dst[lane * 2 + 1] = src[1];
            // Four quants at a time: a group's 4 columns of one row are adjacent in both layouts.
            for (int g = 0; g < BlockValues / GroupValues; g++)
                MemoryMarshal.Write(dst[(ScaleBytes + g * GroupBytes + lane * GroupValues)..], MemoryMarshal.Read<int>(src[(2 + g * GroupValues)..]));
        }
    }

    /// <summary>Reads row <paramref name="r"/> back as ggml Q8_0 blocks (the inverse of <see cref="PackRow"/>).</summary>
    public static void UnpackRow(ReadOnlySpan<byte> packed, int r, int blocks, Span<byte> row)
    {
        var panel = packed.Slice(checked((r / Rows) * blocks * BlockBytes), blocks * BlockBytes);
        int lane = r % Rows;
        for (int b = 0; b < blocks; b++)
        {
            var src = panel.Slice(b * BlockBytes, BlockBytes);
            var dst = row.Slice(b * Q8_0.BlockBytes, Q8_0.BlockBytes);
            dst[0] = src[lane * 2];
            dst[1] = src[lane * 2 + 1];
            for (int i = 0; i < BlockValues; i++) dst[2 + i] = src[QuantOffset(lane, i)];
        }
    }

    /// <summary>Bytes one quantised input row takes (<see cref="QuantizeActivations"/>): 32 int8 per block, then a float per block.</summary>
    public static int ActivationBytes(int cols) => Blocks(cols) * (BlockValues + sizeof(float));

    /// <summary>
    /// Quantises an input row as ggml quantises the activation side of a q8_0 product (<see cref="Q8_0.QuantizeBlock"/>),
    /// each block's scale (the f16-rounded d_x) times 2^112, so that times a weight scale read by <see cref="ScaledHalf"/>
    /// it gives d_w·d_x exactly; a ragged last block is zero-padded.
    /// </summary>
    public static void QuantizeActivations(ReadOnlySpan<float> x, Span<byte> quantised)
    {
        int blocks = Blocks(x.Length);
        var q = MemoryMarshal.Cast<byte, sbyte>(quantised[..(blocks * BlockValues)]);
        var scales = MemoryMarshal.Cast<byte, float>(quantised.Slice(blocks * BlockValues, blocks * sizeof(float)));
        for (int b = 0; b < blocks; b++)
        {
            int start = b * BlockValues;
            Half d = Q8_0.QuantizeBlock(x.Slice(start, Math.Min(BlockValues, x.Length - start)), q.Slice(start, BlockValues));
            scales[b] = (float)d * ScaledHalf.Bias;
        }
    }

    /// <summary>
    /// y[t·16 + i] = row i of the panel · input t, for <paramref name="n"/> inputs of <paramref name="blocks"/> blocks
    /// quantised by <see cref="QuantizeActivations"/>, <see cref="ActivationBytes"/> apart.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Multiply(byte* panel, int blocks, byte* x, int n, float* y)
    {
        int stride = blocks * (BlockValues + sizeof(float)), scaleOffset = blocks * BlockValues;
        if (Avx512Enabled)
        {
            int t = 0;
            for (; t + 4 <= n; t += 4)
                Avx512Panel4(panel, blocks, x + (long)t * stride, stride, y + t * Rows);
            for (; t < n; t++)
                Avx512Panel1(panel, blocks, (sbyte*)(x + (long)t * stride), (float*)(x + (long)t * stride + scaleOffset), y + t * Rows);
            return;
        }
        for (int t = 0; t < n; t++)
        {
            var xq = (sbyte*)(x + (long)t * stride);
            var scales = (float*)(x + (long)t * stride + scaleOffset);
            if (Avx2.IsSupported && Fma.IsSupported)
            {
                Avx2Half(panel, 0, blocks, xq, scales, y + t * Rows);
                Avx2Half(panel, 8, blocks, xq, scales, y + t * Rows + 8);
            }
            else
            {
                Portable(panel, blocks, x + (long)t * stride, y + t * Rows);
            }
        }
    }

    /// <summary>The canonical definition every SIMD path reproduces bit for bit (also the fallback without AVX2).</summary>
    internal static void Portable(byte* panel, int blocks, byte* quantised, float* y)
    {
        var x = (sbyte*)quantised;
        var scales = (float*)(quantised + blocks * BlockValues);
        for (int lane = 0; lane < Rows; lane++)
        {
            float acc = 0;
            for (int b = 0; b < blocks; b++)
            {
                byte* pb = panel + (long)b * BlockBytes;
                sbyte* xb = x + b * BlockValues;
                int sum = 0;
                for (int i = 0; i < BlockValues; i++) sum += (sbyte)pb[QuantOffset(lane, i)] * xb[i];
                acc = MathF.FusedMultiplyAdd(sum, ScaledHalf.Read(*(short*)(pb + lane * 2)) * scales[b], acc);
            }
            y[lane] = acc;
        }
    }

    /// <summary>
    /// Group g of a block (4 columns × 16 rows) times the input's 4 values there: 16 int32 lanes, one row each.
    /// x takes w's sign so that |w| can be the unsigned operand.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<int> Group512(byte* block, sbyte* x, int g)
    {
        var w = Vector512.Load((sbyte*)(block + ScaleBytes + g * GroupBytes));
        var xg = Vector512.Create(*(int*)(x + g * GroupValues)).AsSByte();
        var signed = Vector512.ConditionalSelect(Avx512BW.CompareLessThan(w, Vector512<sbyte>.Zero), -xg, xg);
        return Avx512BW.MultiplyAddAdjacent(Avx512BW.MultiplyAddAdjacent(Avx512BW.Abs(w), signed), Vector512<short>.One);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Avx512Panel1(byte* panel, int blocks, sbyte* x, float* scales, float* y)
    {
        var acc = Vector512<float>.Zero;
        for (int b = 0; b < blocks; b++, panel += BlockBytes, x += BlockValues)
        {
            var s = ScaledHalf.Read16(panel) * Vector512.Create(scales[b]);
            // Unrolled by hand (the JIT does not unroll); two integer chains, exact, so their split does not matter.
            var i0 = Group512(panel, x, 0);
            var i1 = Group512(panel, x, 1);
            i0 += Group512(panel, x, 2);
            i1 += Group512(panel, x, 3);
            i0 += Group512(panel, x, 4);
            i1 += Group512(panel, x, 5);
            i0 += Group512(panel, x, 6);
            i1 += Group512(panel, x, 7);
            acc = Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(i0 + i1), s, acc);
        }
        acc.Store(y);
    }

    /// <summary>One panel against four inputs: each group's |w| and sign mask are formed once and used four times.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Avx512Panel4(byte* panel, int blocks, byte* x, int stride, float* y)
    {
        sbyte* x0 = (sbyte*)x, x1 = x0 + stride, x2 = x0 + 2 * stride, x3 = x0 + 3 * stride;
        float* s0 = (float*)(x + blocks * BlockValues), s1 = (float*)((byte*)s0 + stride), s2 = (float*)((byte*)s0 + 2 * stride), s3 = (float*)((byte*)s0 + 3 * stride);
        Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default;
        for (int b = 0; b < blocks; b++, panel += BlockBytes)
        {
            int o = b * BlockValues;
            Vector512<int> i0 = default, i1 = default, i2 = default, i3 = default;
            for (int g = 0; g < BlockValues / GroupValues; g++)
            {
                var w = Vector512.Load((sbyte*)(panel + ScaleBytes + g * GroupBytes));
                var negative = Avx512BW.CompareLessThan(w, Vector512<sbyte>.Zero);
                var magnitude = Avx512BW.Abs(w);
                i0 += Product(magnitude, negative, x0 + o + g * GroupValues);
                i1 += Product(magnitude, negative, x1 + o + g * GroupValues);
                i2 += Product(magnitude, negative, x2 + o + g * GroupValues);
                i3 += Product(magnitude, negative, x3 + o + g * GroupValues);
            }
            var d = ScaledHalf.Read16(panel);
            a0 = Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(i0), d * Vector512.Create(s0[b]), a0);
            a1 = Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(i1), d * Vector512.Create(s1[b]), a1);
            a2 = Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(i2), d * Vector512.Create(s2[b]), a2);
            a3 = Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(i3), d * Vector512.Create(s3[b]), a3);
        }
        a0.Store(y);
        a1.Store(y + Rows);
        a2.Store(y + 2 * Rows);
        a3.Store(y + 3 * Rows);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<int> Product(Vector512<byte> magnitude, Vector512<sbyte> negative, sbyte* x)
    {
        var xg = Vector512.Create(*(int*)x).AsSByte();
        return Avx512BW.MultiplyAddAdjacent(Avx512BW.MultiplyAddAdjacent(magnitude, Vector512.ConditionalSelect(negative, -xg, xg)), Vector512<short>.One);
    }

    /// <summary>Eight of the panel's rows (lanes <paramref name="lane0"/>..+7) with AVX2.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Avx2Half(byte* panel, int lane0, int blocks, sbyte* x, float* scales, float* y)
    {
        var acc = Vector256<float>.Zero;
        var ones = Vector256<short>.One;
        for (int b = 0; b < blocks; b++, panel += BlockBytes, x += BlockValues)
        {
            var s = ScaledHalf.Read8(panel + lane0 * 2) * Vector256.Create(scales[b]);
            var sum = Vector256<int>.Zero;
            for (int g = 0; g < BlockValues / GroupValues; g++)
            {
                var w = Vector256.Load((sbyte*)(panel + ScaleBytes + g * GroupBytes + lane0 * GroupValues));
                var xg = Vector256.Create(*(int*)(x + g * GroupValues)).AsSByte();
                sum += Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(Avx2.Abs(w), Avx2.Sign(xg, w)), ones);
            }
            acc = Fma.MultiplyAdd(Avx.ConvertToVector256Single(sum), s, acc);
        }
        acc.Store(y);
    }
}

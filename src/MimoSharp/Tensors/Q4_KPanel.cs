using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace MimoSharp.Tensors;

/// <summary>
/// Q4_K weights repacked at load into panels of 16 rows (one SIMD lane per row), the Q4_K counterpart of
/// <see cref="Q8_0Panel"/>. Per panel and 256-value super-block (<see cref="BlockBytes"/> = 2368 bytes, 148 per row:
/// ggml's 144 with the 6-bit scale and min codes unpacked to bytes):
/// <code>
///   half d[16]; half dmin[16];      // each row's super-block scales
///   byte scale[8][16];              // sub-block j's 6-bit scale code, per row
///   byte min[4][16][2];             // sub-blocks 2k and 2k+1's min codes, per row (a pair for vpmaddwd)
///   byte qs[4][8][16][4];           // group g, columns 4c..4c+3: ggml's qs[32g + 4c + k] of each row
/// </code>
/// A quant byte holds sub-block 2g's value in its low nibble and 2g+1's in its high one, as in ggml, so unsigned
/// nibbles times the Q8_K activations go straight into <c>vpmaddubsw</c>; eight such products fit int16 before the
/// sub-block's scale multiplies them into int32 (<c>vpmaddwd</c>).
/// <para>
/// Per row and super-block the result is acc = fma(d·d_x, Σ_j scale_j·(q·x)_j, acc), then acc = fma(−dmin·d_x,
/// Σ_j min_j·Σx_j, acc), with exact integer sums, so every path and tiling gives the same bits.
/// </para>
/// </summary>
public static unsafe class Q4_KPanel
{
    /// <summary>The panel height, shared with <see cref="Q8_0Panel"/> (MatMul tiles outputs by it for both).</summary>
    public const int Rows = Q8_0Panel.Rows;
    private const int SubBlocks = Q4_K.SubBlocks;
    private const int ScalesOffset = 4 * Rows;
    private const int MinsOffset = ScalesOffset + SubBlocks * Rows;
    private const int QuantsOffset = MinsOffset + SubBlocks * Rows;
    private const int GroupBytes = Rows * 4;
    public const int BlockBytes = QuantsOffset + Q4_K.BlockValues / 2 * Rows;

    /// <summary>Whether the AVX-512 kernels run (tests turn them off to check the AVX2 path gives the same bits).</summary>
    internal static bool Avx512Enabled { get; set; } = Avx512BW.IsSupported;

    public static long Bytes(int rows, int cols) => (long)Q8_0Panel.Panels(rows) * Q4_K.Blocks(cols) * BlockBytes;

    /// <summary>Writes row <paramref name="r"/> (ggml Q4_K super-blocks) into its panel; rows never written stay zero.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void PackRow(ReadOnlySpan<byte> row, int r, Span<byte> packed, int blocks)
    {
        var panel = packed.Slice(checked((r / Rows) * blocks * BlockBytes), blocks * BlockBytes);
        int lane = r % Rows;
        for (int b = 0; b < blocks; b++)
        {
            var src = row.Slice(b * Q4_K.BlockBytes, Q4_K.BlockBytes);
            var dst = panel.Slice(b * BlockBytes, BlockBytes);
            MemoryMarshal.Write(dst[(lane * 2)..], MemoryMarshal.Read<ushort>(src));
            MemoryMarshal.Write(dst[(2 * Rows + lane * 2)..], MemoryMarshal.Read<ushort>(src[2..]));
            for (int j = 0; j < SubBlocks; j++)
            {
                Q4_K.ScaleMin(j, src.Slice(4, 12), out int scale, out int min);
                dst[ScalesOffset + j * Rows + lane] = (byte)scale;
                dst[MinsOffset + j / 2 * 2 * Rows + lane * 2 + j % 2] = (byte)min;
            }
            for (int g = 0; g < 4; g++)
                for (int c = 0; c < 8; c++)
                    MemoryMarshal.Write(dst[(QuantsOffset + (g * 8 + c) * GroupBytes + lane * 4)..], MemoryMarshal.Read<int>(src[(16 + 32 * g + 4 * c)..]));
        }
    }

    /// <summary>Reads row <paramref name="r"/> back as ggml Q4_K super-blocks (6-bit codes packed again).</summary>
    public static void UnpackRow(ReadOnlySpan<byte> packed, int r, int blocks, Span<byte> row)
    {
        var panel = packed.Slice(checked((r / Rows) * blocks * BlockBytes), blocks * BlockBytes);
        int lane = r % Rows;
        Span<byte> scales = stackalloc byte[SubBlocks], mins = stackalloc byte[SubBlocks];
        for (int b = 0; b < blocks; b++)
        {
            var src = panel.Slice(b * BlockBytes, BlockBytes);
            var dst = row.Slice(b * Q4_K.BlockBytes, Q4_K.BlockBytes);
            MemoryMarshal.Write(dst, MemoryMarshal.Read<ushort>(src[(lane * 2)..]));
            MemoryMarshal.Write(dst[2..], MemoryMarshal.Read<ushort>(src[(2 * Rows + lane * 2)..]));
            for (int j = 0; j < SubBlocks; j++)
            {
                scales[j] = src[ScalesOffset + j * Rows + lane];
                mins[j] = src[MinsOffset + j / 2 * 2 * Rows + lane * 2 + j % 2];
            }
            Q4_K.PackScaleMin(scales, mins, dst.Slice(4, 12));
            for (int g = 0; g < 4; g++)
                for (int c = 0; c < 8; c++)
                    MemoryMarshal.Write(dst[(16 + 32 * g + 4 * c)..], MemoryMarshal.Read<int>(src[(QuantsOffset + (g * 8 + c) * GroupBytes + lane * 4)..]));
        }
    }

    /// <summary>
    /// y[t·16 + i] = row i of the panel · input t, for <paramref name="n"/> Q8_K inputs of <paramref name="blocks"/>
    /// super-blocks (<see cref="Q4_K.QuantizeActivations"/>, <see cref="Q4_K.ActivationRowBytes"/> apart).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Multiply(byte* panel, int blocks, byte* x, int n, float* y)
    {
        int xStride = blocks * Q4_K.ActivationBlockBytes;
        if (Avx512Enabled)
        {
            int t = 0;
            for (; t + 2 <= n; t += 2)
                Avx512Panel2(panel, blocks, x + (long)t * xStride, xStride, y + t * Rows);
            for (; t < n; t++)
                Avx512Panel1(panel, blocks, x + (long)t * xStride, y + t * Rows);
            return;
        }
        for (int t = 0; t < n; t++)
        {
            if (Avx2.IsSupported && Fma.IsSupported)
            {
                Avx2Half(panel, 0, blocks, x + (long)t * xStride, y + t * Rows);
                Avx2Half(panel, 8, blocks, x + (long)t * xStride, y + t * Rows + 8);
            }
            else
            {
                Portable(panel, blocks, x + (long)t * xStride, y + t * Rows);
            }
        }
    }

    /// <summary>The canonical definition every SIMD path reproduces bit for bit (also the fallback without AVX2).</summary>
    internal static void Portable(byte* panel, int blocks, byte* x, float* y)
    {
        for (int lane = 0; lane < Rows; lane++)
        {
            float acc = 0;
            for (int b = 0; b < blocks; b++)
            {
                byte* pb = panel + (long)b * BlockBytes;
                byte* xb = x + (long)b * Q4_K.ActivationBlockBytes;
                sbyte* xq = (sbyte*)(xb + 4);
                short* bsums = (short*)(xb + 4 + Q4_K.BlockValues);
                int dots = 0, mins = 0;
                for (int j = 0; j < SubBlocks; j++)
                {
                    int g = j / 2, shift = 4 * (j % 2), sum = 0;
                    for (int c = 0; c < 8; c++)
                        for (int k = 0; k < 4; k++)
                            sum += ((pb[QuantsOffset + (g * 8 + c) * GroupBytes + lane * 4 + k] >> shift) & 0xF) * xq[64 * g + 32 * (j % 2) + 4 * c + k];
                    dots += pb[ScalesOffset + j * Rows + lane] * sum;
                    mins += pb[MinsOffset + j / 2 * 2 * Rows + lane * 2 + j % 2] * (bsums[2 * j] + bsums[2 * j + 1]);
                }
                float dx = *(float*)xb;
                float d = ScaledHalf.Read(*(short*)(pb + lane * 2)) * ScaledHalf.Bias * dx;
                float dmin = ScaledHalf.Read(*(short*)(pb + 2 * Rows + lane * 2)) * ScaledHalf.Bias * dx;
                acc = MathF.FusedMultiplyAdd(d, dots, acc);
                acc = MathF.FusedMultiplyAdd(-dmin, mins, acc);
            }
            y[lane] = acc;
        }
    }

    /// <summary>Sixteen f16 super-block scales as float32 (exact: the 2^-112 of the bit trick multiplied back).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Halves512(byte* p) => ScaledHalf.Read16(p) * Vector512.Create(ScaledHalf.Bias);

    /// <summary>Sub-block j's scale code of 16 rows in both int16 halves of each lane (the vpmaddwd multiplier).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<short> Scales512(byte* block, int j)
    {
        var s = Avx512F.ConvertToVector512Int32(Vector128.Load(block + ScalesOffset + j * Rows));
        return (s | Avx512F.ShiftLeftLogical(s, 16)).AsInt16();
    }

    /// <summary>Σ_j min_j·Σx_j for 16 rows, from the Q8_K block's sums of 16.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<int> Mins512(byte* block, short* bsums)
    {
        var acc = Vector512<int>.Zero;
        for (int k = 0; k < SubBlocks / 2; k++)
        {
            int s0 = bsums[4 * k] + bsums[4 * k + 1], s1 = bsums[4 * k + 2] + bsums[4 * k + 3];
            var m = Avx512BW.ConvertToVector512Int16(Vector256.Load(block + MinsOffset + k * 2 * Rows));
            acc += Avx512BW.MultiplyAddAdjacent(m, Vector512.Create((s0 & 0xFFFF) | (s1 << 16)).AsInt16());
        }
        return acc;
    }

    /// <summary>Columns 4c..4c+3 of a group: low nibbles (sub-block 2g) times x0, high nibbles (2g+1) times x1, into int16.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Nibbles512(byte* q, byte* x0, byte* x1, int c, Vector512<byte> low, ref Vector512<short> s0, ref Vector512<short> s1)
    {
        var v = Vector512.Load(q + c * GroupBytes);
        s0 += Avx512BW.MultiplyAddAdjacent(v & low, Vector512.Create(*(int*)(x0 + 4 * c)).AsSByte());
        s1 += Avx512BW.MultiplyAddAdjacent(Avx512BW.ShiftRightLogical(v.AsUInt16(), 4).AsByte() & low, Vector512.Create(*(int*)(x1 + 4 * c)).AsSByte());
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Avx512Panel1(byte* panel, int blocks, byte* x, float* y)
    {
        var acc = Vector512<float>.Zero;
        var low = Vector512.Create((byte)0x0F);
        for (int b = 0; b < blocks; b++, panel += BlockBytes, x += Q4_K.ActivationBlockBytes)
        {
            byte* xq = x + 4;
            var dots = Vector512<int>.Zero;
            for (int g = 0; g < 4; g++)
            {
                byte* q = panel + QuantsOffset + g * 8 * GroupBytes;
                byte* x0 = xq + 64 * g, x1 = x0 + 32;
                // u4 × s8 pairs: at most 2·15·127 each, so eight of them still fit int16. Unrolled by hand.
                Vector512<short> s0 = default, s1 = default;
                Nibbles512(q, x0, x1, 0, low, ref s0, ref s1);
                Nibbles512(q, x0, x1, 1, low, ref s0, ref s1);
                Nibbles512(q, x0, x1, 2, low, ref s0, ref s1);
                Nibbles512(q, x0, x1, 3, low, ref s0, ref s1);
                Nibbles512(q, x0, x1, 4, low, ref s0, ref s1);
                Nibbles512(q, x0, x1, 5, low, ref s0, ref s1);
                Nibbles512(q, x0, x1, 6, low, ref s0, ref s1);
                Nibbles512(q, x0, x1, 7, low, ref s0, ref s1);
                dots += Avx512BW.MultiplyAddAdjacent(s0, Scales512(panel, 2 * g)) + Avx512BW.MultiplyAddAdjacent(s1, Scales512(panel, 2 * g + 1));
            }
            var mins = Mins512(panel, (short*)(xq + Q4_K.BlockValues));
            var dx = Vector512.Create(*(float*)x);
            acc = Avx512F.FusedMultiplyAdd(Halves512(panel) * dx, Avx512F.ConvertToVector512Single(dots), acc);
            acc = Avx512F.FusedMultiplyAdd(-(Halves512(panel + 2 * Rows) * dx), Avx512F.ConvertToVector512Single(mins), acc);
        }
        acc.Store(y);
    }

    /// <summary>One panel against two inputs: each quant vector's nibbles are split once and used twice.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Avx512Panel2(byte* panel, int blocks, byte* x, int xStride, float* y)
    {
        var acc0 = Vector512<float>.Zero;
        var acc1 = Vector512<float>.Zero;
        var low = Vector512.Create((byte)0x0F);
        for (int b = 0; b < blocks; b++, panel += BlockBytes, x += Q4_K.ActivationBlockBytes)
        {
            byte* xa = x + 4, xb = x + xStride + 4;
            Vector512<int> dots0 = default, dots1 = default;
            for (int g = 0; g < 4; g++)
            {
                byte* q = panel + QuantsOffset + g * 8 * GroupBytes;
                Vector512<short> a0 = default, a1 = default, b0 = default, b1 = default;
                for (int c = 0; c < 8; c++)
                {
                    var v = Vector512.Load(q + c * GroupBytes);
                    var lo = v & low;
                    var hi = Avx512BW.ShiftRightLogical(v.AsUInt16(), 4).AsByte() & low;
                    int o0 = 64 * g + 4 * c, o1 = o0 + 32;
                    a0 += Avx512BW.MultiplyAddAdjacent(lo, Vector512.Create(*(int*)(xa + o0)).AsSByte());
                    a1 += Avx512BW.MultiplyAddAdjacent(hi, Vector512.Create(*(int*)(xa + o1)).AsSByte());
                    b0 += Avx512BW.MultiplyAddAdjacent(lo, Vector512.Create(*(int*)(xb + o0)).AsSByte());
                    b1 += Avx512BW.MultiplyAddAdjacent(hi, Vector512.Create(*(int*)(xb + o1)).AsSByte());
                }
                var sc0 = Scales512(panel, 2 * g);
                var sc1 = Scales512(panel, 2 * g + 1);
                dots0 += Avx512BW.MultiplyAddAdjacent(a0, sc0) + Avx512BW.MultiplyAddAdjacent(a1, sc1);
                dots1 += Avx512BW.MultiplyAddAdjacent(b0, sc0) + Avx512BW.MultiplyAddAdjacent(b1, sc1);
            }
            var d = Halves512(panel);
            var dmin = Halves512(panel + 2 * Rows);
            var dx0 = Vector512.Create(*(float*)x);
            var dx1 = Vector512.Create(*(float*)(x + xStride));
            acc0 = Avx512F.FusedMultiplyAdd(d * dx0, Avx512F.ConvertToVector512Single(dots0), acc0);
            acc0 = Avx512F.FusedMultiplyAdd(-(dmin * dx0), Avx512F.ConvertToVector512Single(Mins512(panel, (short*)(xa + Q4_K.BlockValues))), acc0);
            acc1 = Avx512F.FusedMultiplyAdd(d * dx1, Avx512F.ConvertToVector512Single(dots1), acc1);
            acc1 = Avx512F.FusedMultiplyAdd(-(dmin * dx1), Avx512F.ConvertToVector512Single(Mins512(panel, (short*)(xb + Q4_K.BlockValues))), acc1);
        }
        acc0.Store(y);
        acc1.Store(y + Rows);
    }

    /// <summary>Eight of the panel's rows (lanes <paramref name="lane0"/>..+7) with AVX2.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Avx2Half(byte* panel, int lane0, int blocks, byte* x, float* y)
    {
        var acc = Vector256<float>.Zero;
        var low = Vector256.Create((byte)0x0F);
        for (int b = 0; b < blocks; b++, panel += BlockBytes, x += Q4_K.ActivationBlockBytes)
        {
            byte* xq = x + 4;
            var dots = Vector256<int>.Zero;
            for (int g = 0; g < 4; g++)
            {
                byte* q = panel + QuantsOffset + g * 8 * GroupBytes + lane0 * 4;
                Vector256<short> s0 = default, s1 = default;
                for (int c = 0; c < 8; c++)
                {
                    var v = Vector256.Load(q + c * GroupBytes);
                    s0 += Avx2.MultiplyAddAdjacent(v & low, Vector256.Create(*(int*)(xq + 64 * g + 4 * c)).AsSByte());
                    s1 += Avx2.MultiplyAddAdjacent(Avx2.ShiftRightLogical(v.AsUInt16(), 4).AsByte() & low, Vector256.Create(*(int*)(xq + 64 * g + 32 + 4 * c)).AsSByte());
                }
                var sc0 = Avx2.ConvertToVector256Int32(panel + ScalesOffset + 2 * g * Rows + lane0);
                var sc1 = Avx2.ConvertToVector256Int32(panel + ScalesOffset + (2 * g + 1) * Rows + lane0);
                dots += Avx2.MultiplyAddAdjacent(s0, (sc0 | Avx2.ShiftLeftLogical(sc0, 16)).AsInt16())
                        + Avx2.MultiplyAddAdjacent(s1, (sc1 | Avx2.ShiftLeftLogical(sc1, 16)).AsInt16());
            }
            short* bsums = (short*)(xq + Q4_K.BlockValues);
            var mins = Vector256<int>.Zero;
            for (int k = 0; k < SubBlocks / 2; k++)
            {
                int s0 = bsums[4 * k] + bsums[4 * k + 1], s1 = bsums[4 * k + 2] + bsums[4 * k + 3];
                var m = Avx2.ConvertToVector256Int16(Vector128.Load(panel + MinsOffset + k * 2 * Rows + lane0 * 2));
                mins += Avx2.MultiplyAddAdjacent(m, Vector256.Create((s0 & 0xFFFF) | (s1 << 16)).AsInt16());
            }
            var dx = Vector256.Create(*(float*)x);
            var d = ScaledHalf.Read8(panel + lane0 * 2) * Vector256.Create(ScaledHalf.Bias);
            var dmin = ScaledHalf.Read8(panel + 2 * Rows + lane0 * 2) * Vector256.Create(ScaledHalf.Bias);
            acc = Fma.MultiplyAdd(d * dx, Avx.ConvertToVector256Single(dots), acc);
            acc = Fma.MultiplyAdd(-(dmin * dx), Avx.ConvertToVector256Single(mins), acc);
        }
        acc.Store(y);
    }
}

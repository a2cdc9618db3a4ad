using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace MimoSharp.Tensors;

/// <summary>
/// ggml's Q5_K super-block (block_q5_K, 176 bytes per 256 values), read as stored from GGUF files (community Q5_K_M
/// quants): Q4_K's layout with a fifth bit per value.
/// <code>
///   half d; half dmin;   // as Q4_K
///   byte scales[12];     // as Q4_K (6-bit scale and min codes of the 8 sub-blocks of 32)
///   byte qh[32];         // byte l: the high bit of value 32k+l in bit k
///   byte qs[128];        // as Q4_K: byte l of group g holds values 64g+l (low nibble) and 64g+32+l (high)
/// </code>
/// value = d·scale_j·q − dmin·min_j with q = 0..31. The dot with Q8_K activations is, per super-block,
/// d·d_x·Σ_j scale_j·(q·x)_j − dmin·d_x·Σ_j min_j·Σx_j, the integer parts exact, so the AVX2 and scalar paths agree.
/// </summary>
public static class Q5_K
{
    public const int BlockValues = 256;
    public const int BlockBytes = 176;
    private const int HighBits = 16, Quants = 48;

    public static int Blocks(int cols) => (cols + BlockValues - 1) / BlockValues;

    public static int RowBytes(int cols) => Blocks(cols) * BlockBytes;

    /// <summary>The 5-bit level (0..31) of value <paramref name="i"/> of a super-block.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int Level(ReadOnlySpan<byte> block, int i)
    {
        int g = i / 64, l = i % 32, upper = i % 64 / 32;
        int low = block[Quants + 32 * g + l] >> (4 * upper) & 0xF;
        return low | (block[HighBits + l] >> (i / 32) & 1) << 4;
    }

    public static void DequantizeRow(ReadOnlySpan<byte> blocks, Span<float> x)
    {
        int nb = Blocks(x.Length);
        for (int b = 0; b < nb; b++)
        {
            var block = blocks.Slice(b * BlockBytes, BlockBytes);
            float d = (float)MemoryMarshal.Read<Half>(block), dmin = (float)MemoryMarshal.Read<Half>(block[2..]);
            for (int i = 0; i < BlockValues && b * BlockValues + i < x.Length; i++)
            {
                Q4_K.ScaleMin(i / 32, block.Slice(4, 12), out int scale, out int min);
                x[b * BlockValues + i] = d * scale * Level(block, i) - dmin * min;
            }
        }
    }

    /// <summary>Σ over super-blocks, in one order on every path: acc = fma(d·d_x, dots, acc), then fma(−dmin·d_x, mins, acc).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static float Dot(ReadOnlySpan<byte> w, ReadOnlySpan<byte> x, int blocks)
    {
        Span<int> scales = stackalloc int[8];
        float acc = 0;
        for (int b = 0; b < blocks; b++)
        {
            var wb = w.Slice(b * BlockBytes, BlockBytes);
            var xb = x.Slice(b * Q4_K.ActivationBlockBytes, Q4_K.ActivationBlockBytes);
            var sums = MemoryMarshal.Cast<byte, short>(xb.Slice(4 + BlockValues, 32));
            int mins = 0;
            for (int j = 0; j < 8; j++)
            {
                Q4_K.ScaleMin(j, wb.Slice(4, 12), out scales[j], out int min);
                mins += min * (sums[2 * j] + sums[2 * j + 1]);
            }
            int dots = Avx2.IsSupported ? Avx2Dots(wb, xb, scales) : PortableDots(wb, xb, scales);
            float dx = MemoryMarshal.Read<float>(xb);
            float d = (float)MemoryMarshal.Read<Half>(wb) * dx, dmin = (float)MemoryMarshal.Read<Half>(wb[2..]) * dx;
            acc = MathF.FusedMultiplyAdd(d, dots, acc);
            acc = MathF.FusedMultiplyAdd(-dmin, mins, acc);
        }
        return acc;
    }

    /// <summary>Σ_j scale_j·Σ_{i∈j} q_i·x_i over one super-block (exact).</summary>
    internal static int PortableDots(ReadOnlySpan<byte> w, ReadOnlySpan<byte> x, ReadOnlySpan<int> scales)
    {
        var q = MemoryMarshal.Cast<byte, sbyte>(x.Slice(4, BlockValues));
        int dots = 0;
        for (int j = 0; j < 8; j++)
        {
            int sum = 0;
            for (int i = 32 * j; i < 32 * j + 32; i++) sum += Level(w, i) * q[i];
            dots += scales[j] * sum;
        }
        return dots;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static int Avx2Dots(ReadOnlySpan<byte> w, ReadOnlySpan<byte> x, ReadOnlySpan<int> scales)
    {
        ref byte pw = ref MemoryMarshal.GetReference(w);
        ref byte px = ref MemoryMarshal.GetReference(x);
        var low = Vector256.Create((byte)0x0F);
        var one = Vector256.Create((byte)1);
        var high = Vector256.LoadUnsafe(ref pw, HighBits).AsUInt16(); // shifted by 2 per group: bit 0 of each byte is then bit 2g
        var acc = Vector256<int>.Zero;
        for (int g = 0; g < 4; g++, high = Avx2.ShiftRightLogical(high, 2))
        {
            var q4 = Vector256.LoadUnsafe(ref pw, (nuint)(Quants + 32 * g));
            // Levels 0..31, unsigned: u5 × s8 pairs fit int16 (2·31·127).
            var h0 = Avx2.ShiftLeftLogical((high.AsByte() & one).AsUInt16(), 4).AsByte();
            var h1 = Avx2.ShiftLeftLogical((Avx2.ShiftRightLogical(high, 1).AsByte() & one).AsUInt16(), 4).AsByte();
            var lo = (q4 & low) | h0;
            var hi = (Avx2.ShiftRightLogical(q4.AsUInt16(), 4).AsByte() & low) | h1;
            var x0 = Vector256.LoadUnsafe(ref px, (nuint)(4 + 64 * g)).AsSByte();
            var x1 = Vector256.LoadUnsafe(ref px, (nuint)(4 + 64 * g + 32)).AsSByte();
            acc += Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(lo, x0), Vector256.Create((short)scales[2 * g]));
            acc += Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(hi, x1), Vector256.Create((short)scales[2 * g + 1]));
        }
        return Vector256.Sum(acc);
    }
}

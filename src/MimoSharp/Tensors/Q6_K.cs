using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace MimoSharp.Tensors;

/// <summary>
/// ggml's Q6_K super-block (block_q6_K, 210 bytes per 256 values), read as stored from GGUF files (community
/// Q4_K_M/Q6_K quants keep lm_head and some down projections in it):
/// <code>
///   byte ql[128];     // low 4 bits: byte l of half h holds values 128h+l (low nibble) and 128h+64+l (high), l &lt; 64
///   byte qh[64];      // high 2 bits: byte l of half h holds values 128h+l, +32, +64, +96 (bits 0-1, 2-3, 4-5, 6-7)
///   sbyte scales[16]; // one per 16 values
///   half d;
/// </code>
/// value = d·scale_j·(q − 32). The dot with Q8_K activations (<see cref="Q4_K.QuantizeActivations"/>) is, per
/// super-block, d·d_x·(Σ_j scale_j·(q·x)_j − 32·Σ_j scale_j·Σx_j), the integer part exact (the Q8_K sums of 16 are
/// exactly Q6_K's sub-blocks), so the AVX2 and scalar paths give the same bits.
/// </summary>
public static class Q6_K
{
    public const int BlockValues = 256;
    public const int BlockBytes = 210;

    public static int Blocks(int cols) => (cols + BlockValues - 1) / BlockValues;

    public static int RowBytes(int cols) => Blocks(cols) * BlockBytes;

    /// <summary>The 6-bit level (0..63) of value <paramref name="i"/> of a super-block.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int Level(ReadOnlySpan<byte> block, int i)
    {
        int half = i / 128, k = i % 128 / 32, l = i % 32;
        int low = block[64 * half + l + 32 * (k & 1)] >> (4 * (k >> 1)) & 0xF;
        int high = block[128 + 32 * half + l] >> (2 * k) & 3;
        return low | high << 4;
    }

    public static void DequantizeRow(ReadOnlySpan<byte> blocks, Span<float> x)
    {
        int nb = Blocks(x.Length);
        for (int b = 0; b < nb; b++)
        {
            var block = blocks.Slice(b * BlockBytes, BlockBytes);
            float d = (float)MemoryMarshal.Read<Half>(block[208..]);
            for (int i = 0; i < BlockValues && b * BlockValues + i < x.Length; i++)
                x[b * BlockValues + i] = d * (sbyte)block[192 + i / 16] * (Level(block, i) - 32);
        }
    }

    /// <summary>Σ over super-blocks of fma(d·d_x, integer dot, acc), in one order on every path.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static float Dot(ReadOnlySpan<byte> w, ReadOnlySpan<byte> x, int blocks)
    {
        float acc = 0;
        for (int b = 0; b < blocks; b++)
        {
            var wb = w.Slice(b * BlockBytes, BlockBytes);
            var xb = x.Slice(b * Q4_K.ActivationBlockBytes, Q4_K.ActivationBlockBytes);
            var scales = MemoryMarshal.Cast<byte, sbyte>(wb.Slice(192, 16));
            var sums = MemoryMarshal.Cast<byte, short>(xb.Slice(4 + BlockValues, 32));
            int offset = 0;
            for (int j = 0; j < 16; j++) offset += scales[j] * sums[j];
            int dots = Avx2.IsSupported ? Avx2Dots(wb, xb) : PortableDots(wb, xb);
            float d = (float)MemoryMarshal.Read<Half>(wb[208..]) * MemoryMarshal.Read<float>(xb);
            acc = MathF.FusedMultiplyAdd(d, dots - 32 * offset, acc);
        }
        return acc;
    }

    /// <summary>Σ_j scale_j·Σ_{i∈j} q_i·x_i over one super-block (exact).</summary>
    internal static int PortableDots(ReadOnlySpan<byte> w, ReadOnlySpan<byte> x)
    {
        var q = MemoryMarshal.Cast<byte, sbyte>(x.Slice(4, BlockValues));
        int dots = 0;
        for (int j = 0; j < 16; j++)
        {
            int sum = 0;
            for (int i = 16 * j; i < 16 * j + 16; i++) sum += Level(w, i) * q[i];
            dots += (sbyte)w[192 + j] * sum;
        }
        return dots;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static int Avx2Dots(ReadOnlySpan<byte> w, ReadOnlySpan<byte> x)
    {
        ref byte pw = ref MemoryMarshal.GetReference(w);
        ref byte px = ref MemoryMarshal.GetReference(x);
        var low = Vector256.Create((byte)0x0F);
        var three = Vector256.Create((byte)3);
        var acc = Vector256<int>.Zero;
        for (int half = 0; half < 2; half++)
        {
            var ql0 = Vector256.LoadUnsafe(ref pw, (nuint)(64 * half));
            var ql1 = Vector256.LoadUnsafe(ref pw, (nuint)(64 * half + 32));
            var qh = Vector256.LoadUnsafe(ref pw, (nuint)(128 + 32 * half));
            // The four runs of 32 values of this half: levels 0..63, unsigned, so u6 × s8 pairs fit int16 (2·63·127).
            acc += Run(ql0 & low, qh & three, ref px, 128 * half, ref pw, 8 * half);
            acc += Run(ql1 & low, Avx2.ShiftRightLogical(qh.AsUInt16(), 2).AsByte() & three, ref px, 128 * half + 32, ref pw, 8 * half + 2);
            acc += Run(Avx2.ShiftRightLogical(ql0.AsUInt16(), 4).AsByte() & low, Avx2.ShiftRightLogical(qh.AsUInt16(), 4).AsByte() & three, ref px, 128 * half + 64, ref pw, 8 * half + 4);
            acc += Run(Avx2.ShiftRightLogical(ql1.AsUInt16(), 4).AsByte() & low, Avx2.ShiftRightLogical(qh.AsUInt16(), 6).AsByte() & three, ref px, 128 * half + 96, ref pw, 8 * half + 6);
        }
        return Vector256.Sum(acc);
    }

    /// <summary>32 values (two sub-blocks) of levels low | high·16 times the activations, each half times its scale.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> Run(Vector256<byte> low, Vector256<byte> high, ref byte px, int first, ref byte pw, int subBlock)
    {
        var levels = low | Avx2.ShiftLeftLogical(high.AsUInt16(), 4).AsByte();
        var xs = Vector256.LoadUnsafe(ref px, (nuint)(4 + first)).AsSByte();
        var pairs = Avx2.MultiplyAddAdjacent(levels, xs);
        short s0 = (sbyte)Unsafe.Add(ref pw, 192 + subBlock), s1 = (sbyte)Unsafe.Add(ref pw, 192 + subBlock + 1);
        return Avx2.MultiplyAddAdjacent(pairs, Vector256.Create(Vector128.Create(s0), Vector128.Create(s1)));
    }
}

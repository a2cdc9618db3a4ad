using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace MimoSharp.Tensors;

/// <summary>
/// ggml's Q8_0 block format: 32 values as one float16 scale d followed by 32 signed bytes q, value = d·q
/// (34 bytes, the exact layout of ggml's block_q8_0). Activations are quantised to the same format per
/// 32-value block, so a block's dot product is an integer sum scaled by d_w·d_x, as llama.cpp computes it.
/// </summary>
public static class Q8_0
{
    public const int BlockValues = 32;
    public const int BlockBytes = 34;

    public static int RowBytes(int cols) => (cols + BlockValues - 1) / BlockValues * BlockBytes;

    /// <summary>Quantises one row as ggml does (scale = max|x| / 127, round half to even); a ragged last block is zero-padded.</summary>
    public static void QuantizeRow(ReadOnlySpan<float> x, Span<byte> blocks)
    {
        int nb = (x.Length + BlockValues - 1) / BlockValues;
        for (int b = 0; b < nb; b++)
        {
            var block = blocks.Slice(b * BlockBytes, BlockBytes);
            int start = b * BlockValues, len = Math.Min(BlockValues, x.Length - start);
            float amax = 0;
            for (int i = 0; i < len; i++) amax = MathF.Max(amax, MathF.Abs(x[start + i]));
            float d = amax / 127f;
            Half dh = (Half)d;
            MemoryMarshal.Write(block, in dh);
            // ggml's rule (its vectorised quantiser), so our Q8_0 products equal llama.cpp's:
            // q = round-half-even(x / d) with d = max|x| / 127 unrounded; d is stored as f16.
            float inv = d != 0 ? 1f / d : 0f;
            var q = MemoryMarshal.Cast<byte, sbyte>(block[2..]);
            for (int i = 0; i < BlockValues; i++)
                q[i] = i < len ? (sbyte)Math.Clamp((int)MathF.Round(x[start + i] * inv, MidpointRounding.ToEven), -127, 127) : (sbyte)0;
        }
    }

    public static void DequantizeRow(ReadOnlySpan<byte> blocks, Span<float> x)
    {
        int nb = (x.Length + BlockValues - 1) / BlockValues;
        for (int b = 0; b < nb; b++)
        {
            var block = blocks.Slice(b * BlockBytes, BlockBytes);
            float d = (float)MemoryMarshal.Read<Half>(block);
            var q = MemoryMarshal.Cast<byte, sbyte>(block[2..]);
            int start = b * BlockValues, len = Math.Min(BlockValues, x.Length - start);
            for (int i = 0; i < len; i++) x[start + i] = d * q[i];
        }
    }

    /// <summary>Σ over blocks of d_w·d_x·(q_w · q_x); one fixed order per row pair.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static float Dot(ReadOnlySpan<byte> w, ReadOnlySpan<byte> x, int blocks)
    {
        ref byte pw = ref MemoryMarshal.GetReference(w);
        ref byte px = ref MemoryMarshal.GetReference(x);
        if (Avx2.IsSupported && Fma.IsSupported)
        {
            var acc = Vector256<float>.Zero;
            for (int b = 0; b < blocks; b++)
            {
                int o = b * BlockBytes;
                var qx = Vector256.LoadUnsafe(ref Unsafe.Add(ref px, o + 2)).AsSByte();
                float dx = HalfTable.Read(ref Unsafe.Add(ref px, o));
                acc = BlockFma(ref Unsafe.Add(ref pw, o), qx, dx, acc);
            }
            return Vector256.Sum(acc);
        }
        return PortableDot(ref pw, ref px, blocks);
    }

    /// <summary>
    /// Two weight rows against one input: each row's sum is formed exactly as <see cref="Dot"/> forms it (same
    /// per-lane order), so the results are bit-identical; the input's blocks are loaded once for both rows.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Dot2(ReadOnlySpan<byte> w0, ReadOnlySpan<byte> w1, ReadOnlySpan<byte> x, int blocks, out float y0, out float y1)
    {
        if (!(Avx2.IsSupported && Fma.IsSupported))
        {
            y0 = Dot(w0, x, blocks);
            y1 = Dot(w1, x, blocks);
            return;
        }
        ref byte p0 = ref MemoryMarshal.GetReference(w0);
        ref byte p1 = ref MemoryMarshal.GetReference(w1);
        ref byte px = ref MemoryMarshal.GetReference(x);
        var acc0 = Vector256<float>.Zero;
        var acc1 = Vector256<float>.Zero;
        for (int b = 0; b < blocks; b++)
        {
            int o = b * BlockBytes;
            var qx = Vector256.LoadUnsafe(ref Unsafe.Add(ref px, o + 2)).AsSByte();
            float dx = HalfTable.Read(ref Unsafe.Add(ref px, o));
            acc0 = BlockFma(ref Unsafe.Add(ref p0, o), qx, dx, acc0);
            acc1 = BlockFma(ref Unsafe.Add(ref p1, o), qx, dx, acc1);
        }
        y0 = Vector256.Sum(acc0);
        y1 = Vector256.Sum(acc1);
    }

    /// <summary>
    /// Two weight rows against two inputs (a 2×2 tile for prefill): every one of the four sums is formed exactly as
    /// <see cref="Dot"/> forms it, so results do not depend on how rows are tiled; each block is loaded once per tile.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Dot2x2(ReadOnlySpan<byte> w0, ReadOnlySpan<byte> w1, ReadOnlySpan<byte> x0, ReadOnlySpan<byte> x1, int blocks,
        out float y00, out float y01, out float y10, out float y11)
    {
        if (!(Avx2.IsSupported && Fma.IsSupported))
        {
            Dot2(w0, w1, x0, blocks, out y00, out y10);
            Dot2(w0, w1, x1, blocks, out y01, out y11);
            return;
        }
        ref byte p0 = ref MemoryMarshal.GetReference(w0);
        ref byte p1 = ref MemoryMarshal.GetReference(w1);
        ref byte q0 = ref MemoryMarshal.GetReference(x0);
        ref byte q1 = ref MemoryMarshal.GetReference(x1);
        Vector256<float> a00 = default, a01 = default, a10 = default, a11 = default;
        var ones = Vector256.Create((short)1);
        for (int b = 0; b < blocks; b++)
        {
            int o = b * BlockBytes;
            var qw0 = Vector256.LoadUnsafe(ref Unsafe.Add(ref p0, o + 2)).AsSByte();
            var qw1 = Vector256.LoadUnsafe(ref Unsafe.Add(ref p1, o + 2)).AsSByte();
            var qx0 = Vector256.LoadUnsafe(ref Unsafe.Add(ref q0, o + 2)).AsSByte();
            var qx1 = Vector256.LoadUnsafe(ref Unsafe.Add(ref q1, o + 2)).AsSByte();
            var abs0 = Avx2.Abs(qw0);
            var abs1 = Avx2.Abs(qw1);
            float dw0 = HalfTable.Read(ref Unsafe.Add(ref p0, o)), dw1 = HalfTable.Read(ref Unsafe.Add(ref p1, o));
            float dx0 = HalfTable.Read(ref Unsafe.Add(ref q0, o)), dx1 = HalfTable.Read(ref Unsafe.Add(ref q1, o));
            a00 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(abs0, Avx2.Sign(qx0, qw0)), ones)), Vector256.Create(dw0 * dx0), a00);
            a01 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(abs0, Avx2.Sign(qx1, qw0)), ones)), Vector256.Create(dw0 * dx1), a01);
            a10 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(abs1, Avx2.Sign(qx0, qw1)), ones)), Vector256.Create(dw1 * dx0), a10);
            a11 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(abs1, Avx2.Sign(qx1, qw1)), ones)), Vector256.Create(dw1 * dx1), a11);
        }
        y00 = Vector256.Sum(a00);
        y01 = Vector256.Sum(a01);
        y10 = Vector256.Sum(a10);
        y11 = Vector256.Sum(a11);
    }

    /// <summary>acc + d_w·d_x·(eight 4-product integer sums of one block).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> BlockFma(ref byte wBlock, Vector256<sbyte> qx, float dx, Vector256<float> acc)
    {
        var qw = Vector256.LoadUnsafe(ref Unsafe.Add(ref wBlock, 2)).AsSByte();
        // maddubs needs unsigned × signed: move w's sign onto x (|q| ≤ 127, so no saturation).
        var pairs = Avx2.MultiplyAddAdjacent(Avx2.Abs(qw), Avx2.Sign(qx, qw));
        var sums = Avx2.MultiplyAddAdjacent(pairs, Vector256.Create((short)1));
        float d = HalfTable.Read(ref wBlock) * dx;
        return Fma.MultiplyAdd(Avx.ConvertToVector256Single(sums), Vector256.Create(d), acc);
    }

    private static float PortableDot(ref byte pw, ref byte px, int blocks)
    {
        // Portable path: integer block sums are exact, then the same per-lane float accumulation.
        Span<float> lanes = stackalloc float[8];
        lanes.Clear();
        for (int b = 0; b < blocks; b++)
        {
            int o = b * BlockBytes;
            float d = (float)Unsafe.As<byte, Half>(ref Unsafe.Add(ref pw, o)) * (float)Unsafe.As<byte, Half>(ref Unsafe.Add(ref px, o));
            for (int lane = 0; lane < 8; lane++)
            {
                int s = 0;
                for (int j = 0; j < 4; j++)
                {
                    int i = lane * 4 + j;
                    s += (sbyte)Unsafe.Add(ref pw, o + 2 + i) * (sbyte)Unsafe.Add(ref px, o + 2 + i);
                }
                lanes[lane] = MathF.FusedMultiplyAdd(s, d, lanes[lane]);
            }
        }
        return Vector256.Sum(Vector256.Create((ReadOnlySpan<float>)lanes));
    }
}

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
            var ones = Vector256.Create((short)1);
            for (int b = 0; b < blocks; b++)
            {
                int o = b * BlockBytes;
                var qw = Vector256.LoadUnsafe(ref Unsafe.Add(ref pw, o + 2)).AsSByte();
                var qx = Vector256.LoadUnsafe(ref Unsafe.Add(ref px, o + 2)).AsSByte();
                // maddubs needs unsigned × signed: move w's sign onto x (|q| ≤ 127, so no saturation).
                var pairs = Avx2.MultiplyAddAdjacent(Avx2.Abs(qw), Avx2.Sign(qx, qw));
                var sums = Avx2.MultiplyAddAdjacent(pairs, ones);
                float d = (float)Unsafe.As<byte, Half>(ref Unsafe.Add(ref pw, o)) * (float)Unsafe.As<byte, Half>(ref Unsafe.Add(ref px, o));
                acc = Fma.MultiplyAdd(Avx.ConvertToVector256Single(sums), Vector256.Create(d), acc);
            }
            return Vector256.Sum(acc);
        }
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

using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace MimoSharp.Tensors;

/// <summary>
/// ggml's Q4_K "super-block" format, byte for byte (block_q4_K, 144 bytes per 256 values):
/// <code>
///   half d; half dmin;      // super-block scale for the 6-bit scales, and for the 6-bit mins
///   byte scales[12];        // 8 scales and 8 mins of the 32-value sub-blocks, 6 bits each, packed
///   byte qs[128];           // 256 4-bit quants: byte l of group g holds value 64g+l (low nibble) and 64g+32+l (high)
/// </code>
/// value = d·scale_j·q − dmin·min_j for sub-block j. Weights are quantised with ggml's reference
/// (quantize_row_q4_K_ref: weighted least-squares scale and min per sub-block, then 6-bit codes).
/// Activations are quantised per row to ggml's Q8_K (float d, 256 signed bytes, 16 sums of 16), as
/// llama.cpp does, so a super-block's dot product is an exact integer sum scaled by d_x·d and d_x·dmin; the kernel
/// that computes it reads the weights repacked as <see cref="Q4_KPanel"/>.
/// A row whose length is not a multiple of 256 is zero-padded to whole super-blocks in memory (ggml
/// itself needs whole blocks; the GGUF writer falls back to another type for such rows).
/// </summary>
public static class Q4_K
{
    public const int BlockValues = 256;
    public const int BlockBytes = 144;
    public const int SubBlocks = 8;

    /// <summary>Bytes of one Q8_K activation block: float d, 256 quants, 16 int16 sums.</summary>
    public const int ActivationBlockBytes = 4 + 256 + 32;

    public static int Blocks(int cols) => (cols + BlockValues - 1) / BlockValues;

    public static int RowBytes(int cols) => Blocks(cols) * BlockBytes;

    public static int ActivationRowBytes(int cols) => Blocks(cols) * ActivationBlockBytes;

    /// <summary>Sub-block j's 6-bit scale and min from the packed 12 bytes (ggml's get_scale_min_k4).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void ScaleMin(int j, ReadOnlySpan<byte> packed, out int scale, out int min)
    {
        if (j < 4)
        {
            scale = packed[j] & 63;
            min = packed[j + 4] & 63;
        }
        else
        {
            scale = (packed[j + 4] & 0xF) | ((packed[j - 4] >> 6) << 4);
            min = (packed[j + 4] >> 4) | ((packed[j] >> 6) << 4);
        }
    }

    /// <summary>Packs 8 six-bit scale codes and 8 min codes into ggml's 12 bytes (the inverse of <see cref="ScaleMin"/>).</summary>
    public static void PackScaleMin(ReadOnlySpan<byte> scales, ReadOnlySpan<byte> mins, Span<byte> packed)
    {
        packed[..12].Clear();
        for (int j = 0; j < SubBlocks; j++)
        {
            int ls = scales[j], lm = mins[j];
            if (j < 4)
            {
                packed[j] = (byte)ls;
                packed[j + 4] = (byte)lm;
            }
            else
            {
                packed[j + 4] = (byte)((ls & 0xF) | ((lm & 0xF) << 4));
                packed[j - 4] |= (byte)((ls >> 4) << 6);
                packed[j] |= (byte)((lm >> 4) << 6);
            }
        }
    }

    /// <summary>Quantises one row with ggml's reference algorithm; a ragged last block is zero-padded.</summary>
    public static void QuantizeRow(ReadOnlySpan<float> x, Span<byte> blocks)
    {
        int nb = Blocks(x.Length);
        Span<float> padded = stackalloc float[BlockValues];
        for (int b = 0; b < nb; b++)
        {
            int start = b * BlockValues, len = Math.Min(BlockValues, x.Length - start);
            padded.Clear();
            x.Slice(start, len).CopyTo(padded);
            QuantizeBlock(padded, blocks.Slice(b * BlockBytes, BlockBytes));
        }
    }

    private static void QuantizeBlock(ReadOnlySpan<float> x, Span<byte> block)
    {
        Span<byte> levels = stackalloc byte[BlockValues];
        Span<byte> aux = stackalloc byte[32];
        Span<float> weights = stackalloc float[32];
        Span<float> mins = stackalloc float[SubBlocks];
        Span<float> scales = stackalloc float[SubBlocks];
        float maxScale = 0, maxMin = 0;
        for (int j = 0; j < SubBlocks; j++)
        {
            var xs = x.Slice(32 * j, 32);
            float sumX2 = 0;
            for (int l = 0; l < 32; l++) sumX2 += xs[l] * xs[l];
            float avX = MathF.Sqrt(sumX2 / 32);
            for (int l = 0; l < 32; l++) weights[l] = avX + MathF.Abs(xs[l]);
            scales[j] = MakeQkx2Quants(15, xs, weights, levels.Slice(32 * j, 32), out mins[j], aux, -1f, 0.1f, 20);
            if (scales[j] > maxScale) maxScale = scales[j];
            if (mins[j] > maxMin) maxMin = mins[j];
        }

        float invScale = maxScale > 0 ? 63f / maxScale : 0f;
        float invMin = maxMin > 0 ? 63f / maxMin : 0f;
        Span<byte> scaleCodes = stackalloc byte[SubBlocks], minCodes = stackalloc byte[SubBlocks];
        for (int j = 0; j < SubBlocks; j++)
        {
            scaleCodes[j] = (byte)Math.Min(63, Nearest(invScale * scales[j]));
            minCodes[j] = (byte)Math.Min(63, Nearest(invMin * mins[j]));
        }
        var packed = block.Slice(4, 12);
        PackScaleMin(scaleCodes, minCodes, packed);
        Half d = (Half)(maxScale / 63f), dmin = (Half)(maxMin / 63f);
        MemoryMarshal.Write(block, in d);
        MemoryMarshal.Write(block[2..], in dmin);

        // Re-quantise every value against the scales as stored.
        for (int j = 0; j < SubBlocks; j++)
        {
            ScaleMin(j, packed, out int sc, out int m);
            float dj = (float)d * sc;
            if (dj == 0) continue;
            float dm = (float)dmin * m;
            for (int i = 0; i < 32; i++)
                levels[32 * j + i] = (byte)Math.Clamp(Nearest((x[32 * j + i] + dm) / dj), 0, 15);
        }
        var qs = block.Slice(16, 128);
        for (int g = 0; g < 4; g++)
            for (int l = 0; l < 32; l++)
                qs[32 * g + l] = (byte)(levels[64 * g + l] | (levels[64 * g + 32 + l] << 4));
    }

    /// <summary>Round half to even, as ggml's nearest_int (magic-number addition) does.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int Nearest(float v) => (int)MathF.Round(v, MidpointRounding.ToEven);

    /// <summary>
    /// ggml's make_qkx2_quants: levels 0..nmax for x ≈ scale·L − min, chosen by a weighted least-squares fit
    /// over nstep+1 trial scales. Returns the scale; <paramref name="theMin"/> receives −min (≥ 0).
    /// </summary>
    private static float MakeQkx2Quants(int nmax, ReadOnlySpan<float> x, ReadOnlySpan<float> weights, Span<byte> levels,
        out float theMin, Span<byte> aux, float rmin, float rdelta, int nstep)
    {
        int n = x.Length;
        float min = x[0], max = x[0];
        float sumW = weights[0], sumX = sumW * x[0];
        for (int i = 1; i < n; i++)
        {
            if (x[i] < min) min = x[i];
            if (x[i] > max) max = x[i];
            sumW += weights[i];
            sumX += weights[i] * x[i];
        }
        if (min > 0) min = 0;
        if (max == min)
        {
            levels[..n].Clear();
            theMin = -min;
            return 0f;
        }
        float iscale = nmax / (max - min);
        float scale = 1 / iscale;
        float bestError = 0;
        for (int i = 0; i < n; i++)
        {
            int l = Math.Clamp(Nearest(iscale * (x[i] - min)), 0, nmax);
            levels[i] = (byte)l;
            float diff = scale * l + min - x[i];
            bestError += weights[i] * diff * diff;
        }
        for (int step = 0; step <= nstep; step++)
        {
            iscale = (rmin + rdelta * step + nmax) / (max - min);
            float sumL = 0, sumL2 = 0, sumXL = 0;
            for (int i = 0; i < n; i++)
            {
                int l = Math.Clamp(Nearest(iscale * (x[i] - min)), 0, nmax);
                aux[i] = (byte)l;
                float w = weights[i];
                sumL += w * l;
                sumL2 += w * l * l;
                sumXL += w * l * x[i];
            }
            float det = sumW * sumL2 - sumL * sumL;
            if (det <= 0) continue;
            float thisScale = (sumW * sumXL - sumX * sumL) / det;
            float thisMin = (sumL2 * sumX - sumL * sumXL) / det;
            if (thisMin > 0)
            {
                thisMin = 0;
                thisScale = sumXL / sumL2;
            }
            float error = 0;
            for (int i = 0; i < n; i++)
            {
                float diff = thisScale * aux[i] + thisMin - x[i];
                error += weights[i] * diff * diff;
            }
            if (error < bestError)
            {
                aux[..n].CopyTo(levels);
                bestError = error;
                scale = thisScale;
                min = thisMin;
            }
        }
        theMin = -min;
        return scale;
    }

    public static void DequantizeRow(ReadOnlySpan<byte> blocks, Span<float> x)
    {
        int nb = Blocks(x.Length);
        Span<float> values = stackalloc float[BlockValues];
        for (int b = 0; b < nb; b++)
        {
            var block = blocks.Slice(b * BlockBytes, BlockBytes);
            float d = (float)MemoryMarshal.Read<Half>(block);
            float dmin = (float)MemoryMarshal.Read<Half>(block[2..]);
            var packed = block.Slice(4, 12);
            var qs = block.Slice(16, 128);
            for (int g = 0; g < 4; g++)
            {
                ScaleMin(2 * g, packed, out int sc0, out int m0);
                ScaleMin(2 * g + 1, packed, out int sc1, out int m1);
                float d0 = d * sc0, d1 = d * sc1, mm0 = dmin * m0, mm1 = dmin * m1;
                for (int l = 0; l < 32; l++)
                {
                    values[64 * g + l] = d0 * (qs[32 * g + l] & 0xF) - mm0;
                    values[64 * g + 32 + l] = d1 * (qs[32 * g + l] >> 4) - mm1;
                }
            }
            int start = b * BlockValues, len = Math.Min(BlockValues, x.Length - start);
            values[..len].CopyTo(x.Slice(start, len));
        }
    }

    /// <summary>
    /// Quantises an activation row to Q8_K (ggml's quantize_row_q8_K_ref: d = max/−127 of the value with the
    /// largest magnitude, round half to even, plus the sum of every 16 quants); a ragged last block is zero-padded.
    /// </summary>
    public static void QuantizeActivations(ReadOnlySpan<float> x, Span<byte> blocks)
    {
        int nb = Blocks(x.Length);
        for (int b = 0; b < nb; b++)
        {
            var block = blocks.Slice(b * ActivationBlockBytes, ActivationBlockBytes);
            int start = b * BlockValues, len = Math.Min(BlockValues, x.Length - start);
            var xs = x.Slice(start, len);
            float max = len == BlockValues && Vector256.IsHardwareAccelerated ? LargestMagnitude(xs) : ScalarLargestMagnitude(xs);
            float amax = MathF.Abs(max);
            var q = MemoryMarshal.Cast<byte, sbyte>(block.Slice(4, BlockValues));
            var sums = MemoryMarshal.Cast<byte, short>(block.Slice(4 + BlockValues, 32));
            if (amax == 0)
            {
                MemoryMarshal.Write(block, 0f);
                q.Clear();
                sums.Clear();
                continue;
            }
            float iscale = -127f / max;
            if (len == BlockValues && Vector256.IsHardwareAccelerated)
            {
                // The same rule with SIMD (Round is nearest-even), 16 values (one sum) at a time.
                var scale = Vector256.Create(iscale);
                ref float px = ref MemoryMarshal.GetReference(xs);
                ref sbyte pq = ref MemoryMarshal.GetReference(q);
                for (int j = 0; j < 16; j++)
                {
                    var first = Vector256.ConvertToInt32(Vector256.Min(Vector256.Round(Vector256.LoadUnsafe(ref px, (nuint)(16 * j)) * scale), Vector256.Create(127f)));
                    var second = Vector256.ConvertToInt32(Vector256.Min(Vector256.Round(Vector256.LoadUnsafe(ref px, (nuint)(16 * j + 8)) * scale), Vector256.Create(127f)));
                    sums[j] = (short)Vector256.Sum(first + second);
                    var bytes = Vector128.Narrow(Vector128.Narrow(first.GetLower(), first.GetUpper()), Vector128.Narrow(second.GetLower(), second.GetUpper()));
                    bytes.StoreUnsafe(ref pq, (nuint)(16 * j));
                }
            }
            else
            {
                for (int j = 0; j < BlockValues; j++)
                    q[j] = j < len ? (sbyte)Math.Min(127, Nearest(iscale * xs[j])) : (sbyte)0;
                for (int j = 0; j < 16; j++)
                {
                    int s = 0;
                    for (int i = 0; i < 16; i++) s += q[16 * j + i];
                    sums[j] = (short)s;
                }
            }
            float d = 1 / iscale;
            MemoryMarshal.Write(block, in d);
        }
    }

    /// <summary>The first value of largest magnitude (ggml keeps the first of equal magnitudes, so its sign is kept).</summary>
    private static float ScalarLargestMagnitude(ReadOnlySpan<float> x)
    {
        float max = 0, amax = 0;
        for (int j = 0; j < x.Length; j++)
        {
            float ax = MathF.Abs(x[j]);
            if (ax > amax)
            {
                amax = ax;
                max = x[j];
            }
        }
        return max;
    }

    /// <summary><see cref="ScalarLargestMagnitude"/> with SIMD; only a tie between +m and −m needs the scan for which came first.</summary>
    private static float LargestMagnitude(ReadOnlySpan<float> x)
    {
        ref float px = ref MemoryMarshal.GetReference(x);
        var hi = Vector256.LoadUnsafe(ref px);
        var lo = hi;
        for (int i = 8; i < x.Length; i += 8)
        {
            var v = Vector256.LoadUnsafe(ref px, (nuint)i);
            hi = Vector256.Max(hi, v);
            lo = Vector256.Min(lo, v);
        }
        float top = float.NegativeInfinity, bottom = float.PositiveInfinity;
        for (int i = 0; i < 8; i++)
        {
            top = MathF.Max(top, hi[i]);
            bottom = MathF.Min(bottom, lo[i]);
        }
        if (top > -bottom) return top;
        if (-bottom > top) return bottom;
        return ScalarLargestMagnitude(x);
    }
}

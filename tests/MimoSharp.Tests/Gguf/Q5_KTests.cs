using System.Runtime.InteropServices;
using MimoSharp.Checkpoints;
using MimoSharp.Tensors;

namespace MimoSharp.Tests.Gguf;

/// <summary>Q5_K read as stored from GGUF: ggml's layout and the kernel against the dequantised product.</summary>
public sealed class Q5_KTests
{
    /// <summary>A block packed the way ggml's quantize_row_q5_K_ref packs levels L[0..255], 6-bit codes, d and dmin.</summary>
    private static byte[] Pack(int[] levels, byte[] scales, byte[] mins, Half d, Half dmin)
    {
        var block = new byte[Q5_K.BlockBytes];
        MemoryMarshal.Write(block, in d);
        MemoryMarshal.Write(block.AsSpan(2), in dmin);
        Q4_K.PackScaleMin(scales, mins, block.AsSpan(4, 12));
        for (int g = 0; g < 4; g++)
            for (int l = 0; l < 32; l++)
            {
                int a = levels[64 * g + l], b = levels[64 * g + 32 + l];
                block[48 + 32 * g + l] = (byte)((a & 0xF) | (b & 0xF) << 4);
                block[16 + l] |= (byte)((a >> 4) << (2 * g) | (b >> 4) << (2 * g + 1));
            }
        return block;
    }

    private static byte[] RandomRow(Random rng, int cols)
    {
        var row = new byte[Q5_K.RowBytes(cols)];
        for (int b = 0; b < Q5_K.Blocks(cols); b++)
        {
            var levels = Enumerable.Range(0, 256).Select(_ => rng.Next(32)).ToArray();
            var scales = Enumerable.Range(0, 8).Select(_ => (byte)rng.Next(64)).ToArray();
            var mins = Enumerable.Range(0, 8).Select(_ => (byte)rng.Next(64)).ToArray();
            Pack(levels, scales, mins, (Half)(1e-3 * (0.5 + rng.NextDouble())), (Half)(2e-3 * rng.NextDouble())).CopyTo(row, b * Q5_K.BlockBytes);
        }
        return row;
    }

    [Fact]
    public void HandPackedBlockDecodesWithGgmlsLayout()
    {
        var levels = Enumerable.Range(0, 256).Select(i => (i * 13 + 7) % 32).ToArray();
        var scales = Enumerable.Range(0, 8).Select(j => (byte)(j * 7 + 3)).ToArray();
        var mins = Enumerable.Range(0, 8).Select(j => (byte)(60 - j * 5)).ToArray();
        var block = Pack(levels, scales, mins, (Half)0.5f, (Half)0.25f);
        var values = new float[256];
        Q5_K.DequantizeRow(block, values);
        for (int i = 0; i < 256; i++) Assert.Equal(0.5f * scales[i / 32] * levels[i] - 0.25f * mins[i / 32], values[i]);
    }

    [Theory]
    [InlineData(256)]
    [InlineData(768)]
    public void MatMulMatchesTheDequantisedProductAndItsPathsAgree(int cols)
    {
        var rng = new Random(cols);
        int rows = 5, rowBytes = Q5_K.RowBytes(cols);
        var data = Enumerable.Range(0, rows).SelectMany(_ => RandomRow(rng, cols)).ToArray();
        var xq = Q8KReference.AssertMatMulMatches(WeightFormat.Q5_K, data, rows, cols, rng);
        // The SIMD integer part equals the scalar one block by block.
        Span<int> scales = stackalloc int[8];
        for (int b = 0; b < cols / 256; b++)
        {
            var wb = data.AsSpan(2 * rowBytes + b * Q5_K.BlockBytes, Q5_K.BlockBytes);
            var xb = xq.AsSpan(b * Q4_K.ActivationBlockBytes, Q4_K.ActivationBlockBytes);
            for (int j = 0; j < 8; j++) Q4_K.ScaleMin(j, wb.Slice(4, 12), out scales[j], out _);
            Assert.Equal(Q5_K.PortableDots(wb, xb, scales), Q5_K.Avx2Dots(wb, xb, scales));
        }
    }
}

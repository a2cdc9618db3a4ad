using System.Runtime.Intrinsics.X86;
using MimoSharp.Tensors;

namespace MimoSharp.Tests.Tensors;

/// <summary>
/// The BF16 panels (<see cref="Bf16Panel"/>) against the shared panel kernels' documented order, computed here
/// independently: four column phases, each a chain of fused multiply-adds in column order from +0, then
/// (a0 + a1) + (a2 + a3). Every instruction set, thread count and input count (direct and sliced paths) must give
/// exactly these bits.
/// </summary>
public sealed class Bf16PanelTests
{
    private static float Canonical(ushort[] bits, int cols, int r, ReadOnlySpan<float> x)
    {
        var phase = new float[4];
        for (int c = 0; c < cols; c++) phase[c % 4] = MathF.FusedMultiplyAdd(BFloat16.ToFloat(bits[r * cols + c]), x[c], phase[c % 4]);
        return (phase[0] + phase[1]) + (phase[2] + phase[3]);
    }

    /// <summary>Random bfloat16s over the whole finite range (subnormals and both zeros included), no infinities or NaN.</summary>
    private static ushort[] RandomBits(Random random, int count)
    {
        var bits = new ushort[count];
        for (int i = 0; i < count; i++)
        {
            int exponent = random.Next(8) == 0 ? 0 : random.Next(1, 255);
            bits[i] = (ushort)((random.Next(2) << 15) | (exponent << 7) | random.Next(128));
        }
        return bits;
    }

    [Theory]
    [InlineData(37, 301)]  // a ragged last panel and last 4-column group
    [InlineData(16, 128)]
    [InlineData(64, 2100)] // several 256-column slices, the last ragged
    [InlineData(5, 3)]     // fewer columns than one group
    public unsafe void EveryPathGivesTheCanonicalBits(int rows, int cols)
    {
        var random = new Random(rows * cols);
        var bits = RandomBits(random, rows * cols);
        for (int i = 0; i < 4 && i < cols; i++) bits[i] = (ushort)(i + 1); // smallest subnormals in row 0
        const int n = 71; // past one block of 64 inputs, and a remainder of 5 after groups of 6
        var x = new float[n * cols];
        // Inputs small enough that no product overflows the largest weights (2^127): the sums stay finite.
        for (int i = 0; i < x.Length; i++) x[i] = (float)(random.NextDouble() * 2 - 1) * 1e-3f;
        x[1] = 1e-40f; // a subnormal input

        var expected = new float[n * rows];
        for (int t = 0; t < n; t++)
            for (int r = 0; r < rows; r++) expected[t * rows + r] = Canonical(bits, cols, r, x.AsSpan(t * cols, cols));

        fixed (ushort* pb = bits)
        {
            var w = WeightMatrix.FromPinnedBf16("w", pb, rows, cols).PackPanels();
            Assert.True(w.Paneled);
            Assert.Equal(WeightFormat.BF16, w.Format);
            var decoded = new float[cols];
            for (int r = 0; r < rows; r++)
            {
                w.Row(r, decoded); // the row reader unpacks the panel
                for (int c = 0; c < cols; c++) Assert.Equal(BFloat16.ToFloat(bits[r * cols + c]), decoded[c]);
            }
            Assert.Throws<InvalidOperationException>(() => w.Bf16Row(0));
            KernelPaths.AssertCanonical(w, x, expected, [1, 2, 3, 4, 5, 6, 7, 13, n], Avx512F.IsSupported, (avx512, avx2) =>
            {
                Bf16Panel.Avx512Enabled = avx512;
                Bf16Panel.Avx2Enabled = avx2;
            });
        }
    }

    [Fact]
    public unsafe void InfinityAndNaNWeightsReachOnlyTheirRows()
    {
        const int rows = 20, cols = 9;
        var bits = new ushort[rows * cols];
        for (int i = 0; i < bits.Length; i++) bits[i] = BFloat16.FromFloat(0.25f * (i % 7 - 3));
        bits[3 * cols + 8] = 0x7F80;  // +∞ in the last, ragged group
        bits[17 * cols + 1] = 0x7FC1; // NaN in the second panel
        var x = Enumerable.Range(0, 5 * cols).Select(i => 1f + i % 3).ToArray();
        fixed (ushort* pb = bits)
        {
            var w = WeightMatrix.FromPinnedBf16("w", pb, rows, cols).PackPanels();
            foreach (int n in new[] { 1, 5 }) // the direct and the sliced path
            {
                var y = new float[n * rows];
                MatMul.Compute(w, x.AsSpan(0, n * cols), n, y);
                for (int t = 0; t < n; t++)
                    for (int r = 0; r < rows; r++)
                    {
                        float v = y[t * rows + r];
                        Assert.Equal(r == 3, float.IsPositiveInfinity(v));
                        Assert.Equal(r == 17, float.IsNaN(v));
                    }
            }
        }
    }
}

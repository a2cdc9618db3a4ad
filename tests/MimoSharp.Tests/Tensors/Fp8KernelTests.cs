using System.Runtime.Intrinsics.X86;
using MimoSharp.Tensors;

namespace MimoSharp.Tests.Tensors;

/// <summary>
/// The FP8 kernel (<see cref="Fp8Block"/>) against its documented order, computed here independently: e4m3 values
/// from the lookup table (not the kernel's shift decoding), 64 lanes per scale block summed by fused multiply-add,
/// quarters added pairwise, scaled into 16 lanes, then the halving tree. Every instruction set, thread count, input
/// count (direct and tiled paths) and both input ranges (pre-scaled and not) must give exactly these bits.
/// </summary>
public sealed class Fp8KernelTests
{
    /// <summary>The canonical y for one row and one input, from the class summary's definition.</summary>
    private static float Canonical(byte[] codes, float[] scales, int scaleCols, int blockRows, int blockCols, int cols, int r, ReadOnlySpan<float> x)
    {
        var total = new float[16];
        for (int s0 = 0; s0 < cols; s0 += 128)
        {
            var lanes = new float[64];
            for (int c = s0; c < Math.Min(cols, s0 + 128); c++)
            {
                float xs = x[c] * scales[r / blockRows * scaleCols + c / blockCols];
                lanes[c % 64] = MathF.FusedMultiplyAdd(Fp8E4M3.Table[codes[r * cols + c]], xs, lanes[c % 64]);
            }
            for (int j = 0; j < 16; j++) total[j] += (lanes[j] + lanes[16 + j]) + (lanes[32 + j] + lanes[48 + j]);
        }
        for (int width = 8; width >= 1; width /= 2)
            for (int j = 0; j < width; j++) total[j] += total[j + width];
        return total[0];
    }

    public static TheoryData<int, int, int, int, float> Shapes() => new()
    {
        // rows, cols, block rows, block cols, input amplitude (|x · scale| ≥ 256 turns pre-scaling off)
        { 37, 300, 128, 128, 3f },   // the release's blocks; a ragged last block shorter than one 64-column step
        { 37, 300, 128, 128, 1e6f },
        { 19, 200, 8, 80, 3f },      // blocks that are not whole 64-column steps; scale rows change inside tiles
        { 45, 70, 5, 7, 3f },        // odd block heights: runs of rows sharing scales split row pairs
        { 7, 2100, 128, 128, 3f },   // several column slices of the tiled path, the last ragged
        { 64, 128, 128, 128, 0.01f },
        { 20, 512, 128, 128, 1e6f },  // whole 16-column blocks (the one-pass input scaling), pre-scaling refused
    };

    [Theory]
    [MemberData(nameof(Shapes))]
    public unsafe void EveryPathGivesTheCanonicalBitsForEveryByte(int rows, int cols, int blockRows, int blockCols, float amplitude)
    {
        var random = new Random(rows * cols + blockCols);
        // Every non-NaN e4m3 byte (subnormals, ±0, ±448), in a random order; NaN codes replaced below.
        var codes = new byte[rows * cols];
        for (int i = 0; i < codes.Length; i++) codes[i] = (byte)random.Next(256);
        for (int i = 0; i < 256 && i < codes.Length; i++) codes[random.Next(codes.Length)] = (byte)i;
        for (int i = 0; i < codes.Length; i++) if ((codes[i] & 0x7F) == 0x7F) codes[i] ^= 1;
        int scaleCols = (cols + blockCols - 1) / blockCols, scaleRows = (rows + blockRows - 1) / blockRows;
        var scales = new float[scaleRows * scaleCols];
        for (int i = 0; i < scales.Length; i++) scales[i] = (float)(random.NextDouble() + 0.5) / 448;
        const int n = 67; // past one block of 64 inputs in the tiled path
        var x = new float[n * cols];
        for (int i = 0; i < x.Length; i++) x[i] = (float)(random.NextDouble() * 2 - 1) * amplitude;
        x[1] = 1e-40f; // a subnormal input

        var expected = new float[n * rows];
        for (int t = 0; t < n; t++)
            for (int r = 0; r < rows; r++)
                expected[t * rows + r] = Canonical(codes, scales, scaleCols, blockRows, blockCols, cols, r, x.AsSpan(t * cols, cols));

        var paths = new List<(bool Avx512, bool Avx2)> { (false, false) };
        if (Avx2.IsSupported && Fma.IsSupported) paths.Add((false, true));
        if (Avx512F.IsSupported) paths.Add((true, true));
        int saved = ComputePool.Threads;
        fixed (byte* pc = codes)
        fixed (float* ps = scales)
        {
            var w = WeightMatrix.FromPinnedFp8("w", pc, ps, rows, cols, blockRows, blockCols);
            try
            {
                foreach (var (avx512, avx2) in paths)
                    foreach (int threads in new[] { 1, 2 })
                    {
                        Fp8Block.Avx512Enabled = avx512;
                        Fp8Block.Avx2Enabled = avx2;
                        ComputePool.Threads = threads;
                        foreach (int m in new[] { 1, 2, 3, 4, 5, 6, n })
                        {
                            var y = new float[m * rows];
                            MatMul.Compute(w, x.AsSpan(0, m * cols), m, y);
                            for (int i = 0; i < m * rows; i++)
                                Assert.True(expected[i].Equals(y[i]),
                                    $"{m} inputs, {threads} threads, AVX-512 {avx512}, AVX2 {avx2}, output {i}: {y[i]} instead of {expected[i]}");
                        }
                    }
            }
            finally
            {
                ComputePool.Threads = saved;
                Fp8Block.Avx512Enabled = Avx512F.IsSupported;
                Fp8Block.Avx2Enabled = Avx2.IsSupported && Fma.IsSupported;
            }
        }
    }

    /// <summary>The canonical y of the panel kernel (<see cref="Fp8Panel"/>): four column phases, each summed in order.</summary>
    private static float PanelCanonical(byte[] codes, float[] scales, int scaleCols, int blockRows, int blockCols, int cols, int r, ReadOnlySpan<float> x)
    {
        var phase = new float[4];
        int padded = (cols + 3) / 4 * 4;
        for (int c = 0; c < padded; c++)
        {
            float w = c < cols ? Fp8E4M3.Table[codes[r * cols + c]] : 0f;
            float xs = c < cols ? x[c] * scales[r / blockRows * scaleCols + c / blockCols] : 0f;
            phase[c % 4] = MathF.FusedMultiplyAdd(w, xs, phase[c % 4]);
        }
        return (phase[0] + phase[1]) + (phase[2] + phase[3]);
    }

    public static TheoryData<int, int, int, int, float> PanelShapes() => new()
    {
        // rows, cols, block rows, block cols, input amplitude (|x · scale| ≥ 256 turns pre-scaling off)
        { 37, 301, 128, 128, 3f },   // the release's blocks; ragged last panel and last 4-column group
        { 37, 301, 128, 128, 1e6f },
        { 40, 200, 16, 80, 3f },     // a new row of scales every panel; blocks that are not whole groups
        { 64, 2100, 32, 7, 3f },     // several 256-column slices, the last ragged; odd block widths
        { 16, 128, 128, 128, 0.01f },
        { 32, 256, 128, 128, 1e6f }, // whole 16-column blocks (the one-pass input scaling), pre-scaling refused
        { 48, 512, 16, 64, 3f },
    };

    [Theory]
    [MemberData(nameof(PanelShapes))]
    public unsafe void PanelsGiveTheCanonicalBitsForEveryByteOnEveryPath(int rows, int cols, int blockRows, int blockCols, float amplitude)
    {
        var random = new Random(rows * cols + blockCols);
        var codes = new byte[rows * cols];
        for (int i = 0; i < codes.Length; i++) codes[i] = (byte)random.Next(256);
        for (int i = 0; i < 256 && i < codes.Length; i++) codes[random.Next(codes.Length)] = (byte)i;
        for (int i = 0; i < codes.Length; i++) if ((codes[i] & 0x7F) == 0x7F) codes[i] ^= 1;
        for (int i = 0; i < 254; i++) codes[i] = (byte)(i < 127 ? i : i + 1); // every non-NaN byte in row 0 (where it fits)
        int scaleCols = (cols + blockCols - 1) / blockCols, scaleRows = (rows + blockRows - 1) / blockRows;
        var scales = new float[scaleRows * scaleCols];
        for (int i = 0; i < scales.Length; i++) scales[i] = (float)(random.NextDouble() + 0.5) / 448;
        const int n = 71; // past one block of 64 inputs, and a remainder of 5 after groups of 6
        var x = new float[n * cols];
        for (int i = 0; i < x.Length; i++) x[i] = (float)(random.NextDouble() * 2 - 1) * amplitude;
        x[1] = 1e-40f; // a subnormal input

        var expected = new float[n * rows];
        for (int t = 0; t < n; t++)
            for (int r = 0; r < rows; r++)
                expected[t * rows + r] = PanelCanonical(codes, scales, scaleCols, blockRows, blockCols, cols, r, x.AsSpan(t * cols, cols));

        fixed (byte* pc = codes)
        fixed (float* ps = scales)
        {
            var w = WeightMatrix.FromPinnedFp8("w", pc, ps, rows, cols, blockRows, blockCols).PackPanels();
            Assert.True(w.Paneled);
            var decoded = new float[cols];
            w.Row(0, decoded); // the dequantising row reader unpacks the panel
            for (int c = 0; c < cols; c++) Assert.Equal(Fp8E4M3.Table[codes[c]] * scales[c / blockCols], decoded[c]);
            KernelPaths.AssertCanonical(w, x, expected, [1, 2, 3, 4, 5, 6, 7, 13, n], Avx512BW.IsSupported && Gfni.V512.IsSupported, (avx512, avx2) =>
            {
                Fp8Panel.Avx512Enabled = avx512;
                Fp8Panel.Avx2Enabled = avx2;
            });
        }
    }

    [Theory]
    [InlineData(300, 128)] // the general path
    [InlineData(512, 128)] // whole 16-column blocks: the one-pass path
    public unsafe void InputsArePreScaledExactlyWhenEveryScaledValueIsBelow256(int cols, int blockCols)
    {
        var x = Enumerable.Range(0, 2 * cols).Select(i => (float)Math.Sin(i) * 3).ToArray();
        var scales = Enumerable.Range(0, (cols + blockCols - 1) / blockCols).Select(b => 0.5f + b).ToArray();
        int padded = (cols + 63) / 64 * 64;
        var xs = new float[2 * padded];
        fixed (float* px = x)
        fixed (float* ps = scales)
        fixed (float* pxs = xs)
        {
            Assert.True(Fp8Block.ScaleInputs(px, 2, cols, padded, blockCols, ps, pxs, prescale: true));
            for (int t = 0; t < 2; t++)
                for (int c = 0; c < padded; c++)
                    Assert.Equal(c < cols ? x[t * cols + c] * scales[c / blockCols] * Fp8Block.TwoTo120 : 0f, xs[t * padded + c]);
            x[cols + 5] = 1e4f; // one value of the second input out of range: no pre-scaling, for either input
            Assert.False(Fp8Block.ScaleInputs(px, 2, cols, padded, blockCols, ps, pxs, prescale: true));
            for (int t = 0; t < 2; t++)
                for (int c = 0; c < cols; c++) Assert.Equal(x[t * cols + c] * scales[c / blockCols], xs[t * padded + c]);
        }
    }

    [Fact]
    public unsafe void BlocksThatSplitAPanelKeepTheRowKernel()
    {
        var codes = new byte[24 * 8];
        var scales = new float[3];
        fixed (byte* pc = codes)
        fixed (float* ps = scales)
        {
            var w = WeightMatrix.FromPinnedFp8("w", pc, ps, 24, 8, 8, 128);
            Assert.Same(w, w.PackPanels());
        }
    }

    [Fact]
    public unsafe void ARowWithANaNCodeGivesNaNAndOnlyThatRow()
    {
        const int rows = 9, cols = 130;
        var random = new Random(3);
        var codes = new byte[rows * cols];
        for (int i = 0; i < codes.Length; i++) codes[i] = (byte)(random.Next(0x70) | (random.Next(2) << 7));
        codes[4 * cols + 129] = 0x7F;
        codes[7 * cols] = 0xFF;
        var scales = new float[] { 0.01f, 0.02f };
        var x = Enumerable.Range(0, 5 * cols).Select(i => (float)Math.Sin(i)).ToArray();
        fixed (byte* pc = codes)
        fixed (float* ps = scales)
        {
            var stored = WeightMatrix.FromPinnedFp8("w", pc, ps, rows, cols);
            foreach (var w in new[] { stored, stored.PackPanels() })
                foreach (int n in new[] { 1, 5 }) // the direct and the tiled path
                {
                    var y = new float[n * rows];
                    MatMul.Compute(w, x.AsSpan(0, n * cols), n, y);
                    for (int t = 0; t < n; t++)
                        for (int r = 0; r < rows; r++)
                            Assert.Equal(r is 4 or 7, float.IsNaN(y[t * rows + r]));
                }
        }
    }
}

using MimoSharp.Checkpoints;
using MimoSharp.Tensors;

namespace MimoSharp.Tests.Tensors;

public sealed class KernelTests
{
    [Fact]
    public void Fp8E4M3DecodesTheOcpFormat()
    {
        Assert.Equal(1.0f, Fp8E4M3.ToFloat(0x38));
        Assert.Equal(-1.0f, Fp8E4M3.ToFloat(0xB8));
        Assert.Equal(448f, Fp8E4M3.ToFloat(0x7E));
        Assert.Equal(MathF.Pow(2, -9), Fp8E4M3.ToFloat(0x01));   // smallest subnormal: 1/8 · 2^-6
        Assert.Equal(0.875f * MathF.Pow(2, -6), Fp8E4M3.ToFloat(0x07));
        Assert.True(float.IsNaN(Fp8E4M3.ToFloat(0x7F)));
        Assert.True(float.IsNaN(Fp8E4M3.ToFloat(0xFF)));
        for (int b = 0; b < 256; b++)
            if (!float.IsNaN(Fp8E4M3.ToFloat((byte)b)))
                Assert.Equal(Fp8E4M3.ToFloat((byte)b), Fp8E4M3.ToFloat(Fp8E4M3.FromFloat(Fp8E4M3.ToFloat((byte)b))));
    }

    [Fact]
    public void HalfTableIsExactForEveryBitPattern()
    {
        var bytes = new byte[2];
        for (int bits = 0; bits < 65536; bits++)
        {
            BitConverter.TryWriteBytes(bytes, (ushort)bits);
            float expected = (float)BitConverter.UInt16BitsToHalf((ushort)bits);
            float actual = HalfTable.Read(ref bytes[0]);
            Assert.True(expected.Equals(actual), $"bits 0x{bits:X4}: {actual} instead of {expected}");
        }
    }

    [Theory]
    [InlineData(32)]
    [InlineData(96)]
    [InlineData(2048)]
    public void Q8_0TiledDotsAreBitIdenticalToTheOneRowDot(int cols)
    {
        var random = new Random(cols);
        float[] Row() => Enumerable.Range(0, cols).Select(_ => (float)(random.NextDouble() * 2 - 1) * 3).ToArray();
        byte[] Quantised(float[] row)
        {
            var q = new byte[Q8_0.RowBytes(cols)];
            Q8_0.QuantizeRow(row, q);
            return q;
        }
        byte[] w0 = Quantised(Row()), w1 = Quantised(Row()), x = Quantised(Row());
        int blocks = Q8_0.RowBytes(cols) / Q8_0.BlockBytes;
        Q8_0.Dot2(w0, w1, x, blocks, out float y0, out float y1);
        Assert.Equal(Q8_0.Dot(w0, x, blocks), y0);
        Assert.Equal(Q8_0.Dot(w1, x, blocks), y1);
        byte[] x1 = Quantised(Row());
        Q8_0.Dot2x2(w0, w1, x, x1, blocks, out float y00, out float y01, out float y10, out float y11);
        Assert.Equal(Q8_0.Dot(w0, x, blocks), y00);
        Assert.Equal(Q8_0.Dot(w0, x1, blocks), y01);
        Assert.Equal(Q8_0.Dot(w1, x, blocks), y10);
        Assert.Equal(Q8_0.Dot(w1, x1, blocks), y11);
    }

    [Fact]
    public void BFloat16RoundsToNearestEven()
    {
        Assert.Equal(0x3F80, BFloat16.FromFloat(1f));
        Assert.Equal(0x3F80, BFloat16.FromFloat(BitConverter.UInt32BitsToSingle(0x3F808000))); // tie → even
        Assert.Equal(0x3F82, BFloat16.FromFloat(BitConverter.UInt32BitsToSingle(0x3F818000))); // tie → even (up)
        Assert.Equal(0x3F81, BFloat16.FromFloat(BitConverter.UInt32BitsToSingle(0x3F808001)));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(15)]
    [InlineData(16)]
    [InlineData(31)]
    [InlineData(32)]
    [InlineData(33)]
    [InlineData(100)]
    [InlineData(257)]
    public void Bf16DotMatchesAnExactSum(int n)
    {
        var rng = new Random(n);
        var w = new ushort[n];
        var x = new float[n];
        double exact = 0;
        for (int i = 0; i < n; i++)
        {
            w[i] = BFloat16.FromFloat((float)(rng.NextDouble() * 2 - 1));
            x[i] = (float)(rng.NextDouble() * 2 - 1);
            exact += (double)BFloat16.ToFloat(w[i]) * x[i];
        }
        var arranged = new float[n];
        VectorMath.InterleaveForBf16(x, arranged);
        Assert.Equal(exact, VectorMath.DotBf16(w, arranged), 1e-4);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(32)]
    [InlineData(45)]
    [InlineData(300)]
    public void Q8_0MatchesGgmlBlocksAndTheirIntegerDot(int cols)
    {
        var rng = new Random(cols);
        var w = Enumerable.Range(0, cols).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray();
        var x = Enumerable.Range(0, cols).Select(_ => (float)(rng.NextDouble() * 4 - 2)).ToArray();
        int bytes = Q8_0.RowBytes(cols), blocks = bytes / Q8_0.BlockBytes;
        Assert.Equal((cols + 31) / 32 * 34, bytes);
        var wq = new byte[bytes];
        var xq = new byte[bytes + 32];
        Q8_0.QuantizeRow(w, wq);
        Q8_0.QuantizeRow(x, xq);
        var back = new float[cols];
        Q8_0.DequantizeRow(wq, back);
        for (int i = 0; i < cols; i++)
        {
            // Half a step, plus the f16 rounding of the stored scale applied to |q| ≤ 127.
            float d = (float)BitConverter.ToHalf(wq, i / 32 * 34);
            Assert.True(Math.Abs(back[i] - w[i]) <= d * (0.5 + 127.0 / 2048) + 1e-6, $"value {i}: {back[i]} vs {w[i]}, step {d}");
        }
        // The kernel equals the exact sum of block scale products times integer dots.
        double expected = 0;
        for (int b = 0; b < blocks; b++)
        {
            long dot = 0;
            for (int i = 0; i < 32; i++) dot += (sbyte)wq[b * 34 + 2 + i] * (sbyte)xq[b * 34 + 2 + i];
            expected += (double)(float)BitConverter.ToHalf(wq, b * 34) * (float)BitConverter.ToHalf(xq, b * 34) * dot;
        }
        Assert.Equal(expected, Q8_0.Dot(wq, xq, blocks), 1e-4);
    }

    [Theory]
    [InlineData(DType.F32)]
    [InlineData(DType.BF16)]
    [InlineData(DType.F16)]
    [InlineData(DType.F8_E4M3)]
    public void MatMulOfStoredWeightsMatchesDequantisedReference(DType dtype)
    {
        // Ragged FP8 blocks: 5x7 blocks of a 13x19 matrix.
        const int rows = 13, cols = 19, n = 3;
        var rng = new Random(5);
        var dense = new float[rows * cols];
        for (int i = 0; i < dense.Length; i++) dense[i] = (float)(rng.NextDouble() * 2 - 1);
        string path = Path.Combine(Path.GetTempPath(), $"mimo-kernel-{Guid.NewGuid():N}.safetensors");
        var writer = new SafetensorsWriter();
        var reference = new float[rows * cols];
        float[] scales = new float[3 * 3];
        switch (dtype)
        {
            case DType.F32:
                writer.AddF32("w", [rows, cols], dense);
                dense.CopyTo(reference, 0);
                break;
            case DType.F16:
                var halves = dense.Select(f => (Half)f).ToArray();
                writer.Add("w", DType.F16, [rows, cols], System.Runtime.InteropServices.MemoryMarshal.AsBytes(halves.AsSpan()).ToArray());
                for (int i = 0; i < dense.Length; i++) reference[i] = (float)halves[i];
                break;
            case DType.BF16:
                writer.AddBF16("w", [rows, cols], dense);
                for (int i = 0; i < dense.Length; i++) reference[i] = BFloat16.ToFloat(BFloat16.FromFloat(dense[i]));
                break;
            default:
                var bytes = new byte[rows * cols];
                for (int i = 0; i < scales.Length; i++) scales[i] = 0.01f * (i + 1);
                for (int r = 0; r < rows; r++)
                    for (int c = 0; c < cols; c++)
                    {
                        float s = scales[(r / 5) * 3 + c / 7];
                        bytes[r * cols + c] = Fp8E4M3.FromFloat(dense[r * cols + c] / s);
                        reference[r * cols + c] = Fp8E4M3.ToFloat(bytes[r * cols + c]) * s;
                    }
                writer.Add("w", DType.F8_E4M3, [rows, cols], bytes);
                writer.AddF32("w_scale_inv", [3, 3], scales);
                break;
        }
        writer.Write(path);
        try
        {
            using var file = SafetensorsFile.Open(path);
            var w = WeightMatrix.From(file.Tensors["w"], file.Tensors.GetValueOrDefault("w_scale_inv"), [5, 7]);
            var x = new float[n * cols];
            for (int i = 0; i < x.Length; i++) x[i] = (float)(rng.NextDouble() * 2 - 1);
            var y = new float[n * rows];
            MatMul.Compute(w, x, n, y);
            for (int t = 0; t < n; t++)
                for (int r = 0; r < rows; r++)
                {
                    double e = 0;
                    for (int c = 0; c < cols; c++) e += (double)reference[r * cols + c] * x[t * cols + c];
                    Assert.Equal(e, y[t * rows + r], 1e-5);
                }
        }
        finally
        {
            File.Delete(path);
        }
    }
}

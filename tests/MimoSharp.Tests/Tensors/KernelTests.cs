using MimoSharp.Checkpoints;
using System.Runtime.Intrinsics.X86;
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
    public void Fp8SimdDecodeEqualsTheTableForEveryByteAndScale()
    {
        var bytes = Enumerable.Range(0, 256).Select(b => (byte)b).Concat(Enumerable.Range(0, 37).Select(b => (byte)(b * 7))).ToArray();
        var decoded = new float[bytes.Length];
        foreach (float scale in new[] { 1f, 3.0517578e-05f, 0.0123f, -2.5f, 1e-30f })
        {
            Fp8E4M3.DecodeScaled(bytes, scale, decoded);
            for (int i = 0; i < bytes.Length; i++)
            {
                float expected = Fp8E4M3.Table[bytes[i]] * scale;
                Assert.True(expected.Equals(decoded[i]), $"byte 0x{bytes[i]:X2} scale {scale}: {decoded[i]} instead of {expected}");
            }
        }
    }

    [Fact]
    public void ScaledHalfIsExactForEveryFiniteHalf()
    {
        for (int bits = 0; bits < 65536; bits++)
        {
            Half h = BitConverter.UInt16BitsToHalf((ushort)bits);
            if (!Half.IsFinite(h)) continue;
            float expected = (float)h, actual = ScaledHalf.Read((short)bits) * ScaledHalf.Bias;
            Assert.True(expected.Equals(actual), $"bits 0x{bits:X4}: {actual} instead of {expected}");
        }
    }

    [Theory]
    [InlineData(WeightFormat.Q8_0, 37, 32)]
    [InlineData(WeightFormat.Q8_0, 16, 45)]
    [InlineData(WeightFormat.Q8_0, 50, 96)]
    [InlineData(WeightFormat.Q8_0, 33, 2048)]
    [InlineData(WeightFormat.Q4_K, 37, 256)]
    [InlineData(WeightFormat.Q4_K, 16, 300)]
    [InlineData(WeightFormat.Q4_K, 33, 1024)]
    public unsafe void PanelPathsAreBitIdenticalToTheCanonicalSum(WeightFormat format, int rows, int cols)
    {
        var random = new Random(rows * cols);
        float[] Values(int count) => Enumerable.Range(0, count).Select(_ => (float)(random.NextDouble() * 2 - 1) * 3).ToArray();
        var weights = Values(rows * cols);
        const int n = 11;
        var x = Values(n * cols);
        bool q8 = format == WeightFormat.Q8_0;
        int blocks = q8 ? Q8_0Panel.Blocks(cols) : Q4_K.Blocks(cols);
        int xBytes = q8 ? Q8_0Panel.ActivationBytes(cols) : Q4_K.ActivationRowBytes(cols);
        long panelBytes = (long)blocks * (q8 ? Q8_0Panel.BlockBytes : Q4_KPanel.BlockBytes);
        fixed (float* pw = weights)
        {
            var w = WeightMatrix.FromPinned("w", pw, rows, cols).Quantize(format);
            var xq = new byte[n * xBytes];
            for (int t = 0; t < n; t++)
            {
                if (q8) Q8_0Panel.QuantizeActivations(x.AsSpan(t * cols, cols), xq.AsSpan(t * xBytes, xBytes));
                else Q4_K.QuantizeActivations(x.AsSpan(t * cols, cols), xq.AsSpan(t * xBytes, xBytes));
            }
            var expected = new float[n * rows];
            var lanes = new float[16];
            fixed (byte* pq = xq)
            fixed (float* pl = lanes)
                for (int p = 0; p < (rows + 15) / 16; p++)
                    for (int t = 0; t < n; t++)
                    {
                        if (q8) Q8_0Panel.Portable(w.Panels + p * panelBytes, blocks, pq + t * xBytes, pl);
                        else Q4_KPanel.Portable(w.Panels + p * panelBytes, blocks, pq + t * xBytes, pl);
                        for (int i = 0; i < 16 && p * 16 + i < rows; i++) expected[t * rows + p * 16 + i] = lanes[i];
                    }
            int saved = ComputePool.Threads;
            try
            {
                // Every count of inputs (tiles and their remainders), both thread counts and the AVX-512 and AVX2
                // kernels give the canonical bits.
                foreach (var (threads, avx512) in new[] { (1, true), (2, true), (1, false) })
                {
                    ComputePool.Threads = threads;
                    Q8_0Panel.Avx512Enabled = Q4_KPanel.Avx512Enabled = avx512 && Avx512BW.IsSupported;
                    for (int m = 1; m <= n; m++)
                    {
                        var y = new float[m * rows];
                        MatMul.Compute(w, x.AsSpan(0, m * cols), m, y);
                        for (int i = 0; i < m * rows; i++)
                            Assert.True(expected[i].Equals(y[i]), $"{m} inputs, {threads} threads, AVX-512 {avx512}, output {i}: {y[i]} instead of {expected[i]}");
                    }
                }
            }
            finally
            {
                ComputePool.Threads = saved;
                Q8_0Panel.Avx512Enabled = Q4_KPanel.Avx512Enabled = Avx512BW.IsSupported;
            }
            // The panels hold the quantiser's rows exactly.
            var row = new byte[q8 ? Q8_0.RowBytes(cols) : Q4_K.RowBytes(cols)];
            var back = new byte[row.Length];
            for (int r = 0; r < rows; r++)
            {
                if (q8) Q8_0.QuantizeRow(weights.AsSpan(r * cols, cols), row);
                else Q4_K.QuantizeRow(weights.AsSpan(r * cols, cols), row);
                w.CopyBlockRow(r, back);
                Assert.Equal(row, back);
            }
        }
    }

    [Theory]
    [InlineData(37, 16)]
    [InlineData(40, 48)]
    [InlineData(19, 256)]
    [InlineData(23, 300)]
    [InlineData(5, 15)]
    public unsafe void Bf16ProductsOfAnyInputCountHaveTheBitsOfOneRowAlone(int rows, int cols)
    {
        var random = new Random(rows * cols);
        var bits = Enumerable.Range(0, rows * cols).Select(_ => BFloat16.FromFloat((float)(random.NextDouble() * 2 - 1))).ToArray();
        const int n = 11;
        var x = Enumerable.Range(0, n * cols).Select(_ => (float)(random.NextDouble() * 2 - 1) * 3).ToArray();
        fixed (ushort* pw = bits)
        {
            var w = WeightMatrix.FromPinnedBf16("w", pw, rows, cols);
            var expected = new float[n * rows];
            var arranged = new float[cols];
            for (int t = 0; t < n; t++)
            {
                VectorMath.InterleaveForBf16(x.AsSpan(t * cols, cols), arranged);
                for (int r = 0; r < rows; r++) expected[t * rows + r] = VectorMath.DotBf16(w.Bf16Row(r), arranged);
            }
            int saved = ComputePool.Threads;
            try
            {
                foreach (int threads in new[] { 1, 2 })
                {
                    ComputePool.Threads = threads;
                    for (int m = 1; m <= n; m++)
                    {
                        var y = new float[m * rows];
                        MatMul.Compute(w, x.AsSpan(0, m * cols), m, y);
                        for (int i = 0; i < m * rows; i++)
                            Assert.True(expected[i].Equals(y[i]), $"{m} inputs, {threads} threads, output {i}: {y[i]} instead of {expected[i]}");
                    }
                }
            }
            finally
            {
                ComputePool.Threads = saved;
            }
        }
    }

    [Fact]
    public void Q8_0SimdQuantiserFollowsTheScalarRule()
    {
        // Whole blocks take the SIMD path, a ragged one the scalar loop; ties (x·inv exactly k + 0.5) must round to even.
        var random = new Random(7);
        var blockOut = new sbyte[32];
        var scalarOut = new sbyte[32];
        for (int trial = 0; trial < 2000; trial++)
        {
            var x = new float[32];
            for (int i = 0; i < 32; i++) x[i] = (float)(random.NextDouble() * 2 - 1) * (trial % 7 + 1);
            if (trial % 3 == 0)
            {
                x[0] = 127f;
                for (int i = 1; i < 32; i++) x[i] = random.Next(-254, 255) / 2f;   // d = 1: every odd value is a tie
            }
            if (trial == 1) Array.Clear(x);
            Half d = Q8_0.QuantizeBlock(x, blockOut);
            Half ds = Q8_0.QuantizeBlock(x.AsSpan(0, 31), scalarOut);   // scalar path on the first 31 values ...
            float amax = x.Max(MathF.Abs), dd = amax / 127f, inv = dd != 0 ? 1 / dd : 0;
            Assert.Equal((Half)dd, d);
            for (int i = 0; i < 32; i++)
            {
                int expected = Math.Clamp((int)MathF.Round(x[i] * inv, MidpointRounding.ToEven), -127, 127);
                Assert.True(expected == blockOut[i], $"trial {trial}, value {i}: {blockOut[i]} instead of {expected}");
            }
            if (MathF.Abs(x[31]) < amax)   // ... equals it wherever the 32nd value did not set the scale
                for (int i = 0; i < 31; i++) Assert.Equal(blockOut[i], scalarOut[i]);
        }
    }

    [Fact]
    public void Q8_0PanelsUnpackToTheRowsPacked()
    {
        int rows = 19, cols = 70, blocks = Q8_0Panel.Blocks(cols);
        var random = new Random(3);
        var packed = new byte[Q8_0Panel.Bytes(rows, cols)];
        var rowsIn = new byte[rows][];
        for (int r = 0; r < rows; r++)
        {
            rowsIn[r] = new byte[Q8_0.RowBytes(cols)];
            random.NextBytes(rowsIn[r]);
            Q8_0Panel.PackRow(rowsIn[r], r, packed, blocks);
        }
        var back = new byte[Q8_0.RowBytes(cols)];
        for (int r = 0; r < rows; r++)
        {
            Q8_0Panel.UnpackRow(packed, r, blocks, back);
            Assert.Equal(rowsIn[r], back);
        }
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
    public unsafe void Q8_0MatchesGgmlBlocksAndTheirIntegerDot(int cols)
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
        fixed (byte* p = wq)
        {
            var info = new TensorInfo { Name = "w", DType = DType.U8, Shape = [1, cols], File = "test.gguf", Data = p, ByteLength = bytes, BlockFormat = WeightFormat.Q8_0 };
            var y = new float[1];
            MatMul.Compute(WeightMatrix.From(info, null, null), x, 1, y);
            Assert.Equal(expected, y[0], 1e-4);
        }
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

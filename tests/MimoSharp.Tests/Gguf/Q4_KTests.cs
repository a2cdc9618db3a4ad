using System.Runtime.InteropServices;
using MimoSharp.Checkpoints;
using MimoSharp.Tensors;

namespace MimoSharp.Tests.Gguf;

/// <summary>The Q4_K block layout, quantiser and kernel against ggml's definitions.</summary>
public sealed class Q4_KTests
{
    private static float[] Values(int n, int seed, float scale = 1f)
    {
        var rng = new System.Random(seed);
        return Enumerable.Range(0, n).Select(_ => (float)(rng.NextDouble() * 2 - 1) * scale).ToArray();
    }

    /// <summary>A block assembled by hand from ggml's struct decodes as d·scale_j·q − dmin·min_j.</summary>
    [Fact]
    public void HandBuiltBlockDecodesWithGgmlsLayout()
    {
        var block = new byte[Q4_K.BlockBytes];
        MemoryMarshal.Write(block, (Half)0.5f);                  // d
        MemoryMarshal.Write(block.AsSpan(2), (Half)0.25f);       // dmin
        int[] scales = [1, 2, 3, 4, 17, 33, 50, 63], mins = [0, 5, 10, 15, 20, 40, 60, 63];
        // 6-bit packing of ggml's get_scale_min_k4: j < 4 in the low 6 bits of bytes j and j+4; j ≥ 4 split
        // into a low nibble in byte j+4 (scale low, min high) and 2 high bits on top of bytes j−4 and j.
        var packed = block.AsSpan(4, 12);
        for (int j = 0; j < 8; j++)
        {
            if (j < 4)
            {
                packed[j] |= (byte)scales[j];
                packed[j + 4] |= (byte)mins[j];
            }
            else
            {
                packed[j + 4] = (byte)((scales[j] & 0xF) | ((mins[j] & 0xF) << 4));
                packed[j - 4] |= (byte)((scales[j] >> 4) << 6);
                packed[j] |= (byte)((mins[j] >> 4) << 6);
            }
        }
        for (int j = 0; j < 8; j++)
        {
            Q4_K.ScaleMin(j, packed, out int sc, out int m);
            Assert.Equal((scales[j], mins[j]), (sc, m));
        }
        // Value v of the block: group g = v / 64, byte l = v % 32 of that group's 32 bytes, low nibble for the
        // first 32 values of the group and high nibble for the next 32.
        var qs = block.AsSpan(16, 128);
        for (int i = 0; i < 128; i++) qs[i] = (byte)((i % 16) | (((i * 7) % 16) << 4));
        var x = new float[256];
        Q4_K.DequantizeRow(block, x);
        for (int v = 0; v < 256; v++)
        {
            int g = v / 64, l = v % 32, j = v / 32;
            int q = v % 64 < 32 ? qs[32 * g + l] & 0xF : qs[32 * g + l] >> 4;
            Assert.Equal(0.5f * scales[j] * q - 0.25f * mins[j], x[v], 6);
        }
    }

    [Theory]
    [InlineData(256)]
    [InlineData(1024)]
    [InlineData(300)] // ragged: zero-padded to two super-blocks
    public void QuantisationErrorIsThatOfFourBits(int n)
    {
        var x = Values(n, n);
        var blocks = new byte[Q4_K.RowBytes(n)];
        Q4_K.QuantizeRow(x, blocks);
        var back = new float[n];
        Q4_K.DequantizeRow(blocks, back);
        double err = Math.Sqrt(x.Zip(back, (a, b) => (double)(a - b) * (a - b)).Average());
        double rms = Math.Sqrt(x.Average(a => (double)a * a));
        // 16 levels over a sub-block's range of about 2: a step of ~0.13, rms error ~0.04 of the signal or less.
        Assert.InRange(err / rms, 0.005, 0.08);
    }

    [Fact]
    public void ConstantAndZeroSubBlocksRoundTrip()
    {
        var x = new float[256];
        for (int i = 32; i < 64; i++) x[i] = 0.75f;   // one constant positive sub-block
        for (int i = 64; i < 96; i++) x[i] = -0.5f;   // one constant negative sub-block
        var blocks = new byte[Q4_K.BlockBytes];
        Q4_K.QuantizeRow(x, blocks);
        var back = new float[256];
        Q4_K.DequantizeRow(blocks, back);
        for (int i = 0; i < 256; i++) Assert.Equal(x[i], back[i], 2);
    }

    /// <summary>The kernel equals the float dot of the dequantised weight row with the dequantised Q8_K row.</summary>
    [Theory]
    [InlineData(256)]
    [InlineData(768)]
    [InlineData(200)]
    public unsafe void DotMatchesTheDequantisedProduct(int n)
    {
        var w = Values(n, 1);
        var x = Values(n, 2, 3f);
        var wq = new byte[Q4_K.RowBytes(n)];
        var xq = new byte[Q4_K.ActivationRowBytes(n)];
        Q4_K.QuantizeRow(w, wq);
        Q4_K.QuantizeActivations(x, xq);
        var wd = new float[n];
        Q4_K.DequantizeRow(wq, wd);
        double reference = Q8KReference.Dot(wd, xq);
        float got;
        fixed (byte* p = wq)
        {
            var info = new TensorInfo { Name = "w", DType = DType.U8, Shape = [1, n], File = "test.gguf", Data = p, ByteLength = wq.Length, BlockFormat = WeightFormat.Q4_K };
            var y = new float[1];
            MatMul.Compute(WeightMatrix.From(info, null, null), x, 1, y);
            got = y[0];
        }
        Assert.InRange(Math.Abs(got - reference), 0, 1e-4 * Math.Max(1, Math.Abs(reference)));
        double exact = w.Zip(x, (a, b) => (double)a * b).Sum();
        Assert.InRange(Math.Abs(got - exact), 0, 0.05 * Math.Sqrt(n));
    }

    [Fact]
    public void Q8_KActivationsFollowGgmlsRule()
    {
        // ggml's quantize_row_q8_K_ref, written out: the first value of largest magnitude sets d (its sign too).
        var random = new System.Random(11);
        for (int trial = 0; trial < 300; trial++)
        {
            var x = Values(512, 100 + trial, 1 + trial % 5);
            if (trial % 4 == 1) { x[7] = -9; x[100] = 9; }      // a tie: the first (negative) one wins
            if (trial % 4 == 2) { x[7] = 9; x[100] = -9; }
            if (trial == 3) Array.Clear(x, 256, 256);          // an all-zero block
            if (trial % 5 == 4) for (int i = 0; i < 512; i++) x[i] = random.Next(-10, 11) / 4f;   // many ties and halves
            var blocks = new byte[Q4_K.ActivationRowBytes(512)];
            Q4_K.QuantizeActivations(x, blocks);
            for (int b = 0; b < 2; b++)
            {
                var block = blocks.AsSpan(b * Q4_K.ActivationBlockBytes, Q4_K.ActivationBlockBytes);
                var xs = x.AsSpan(b * 256, 256);
                float max = 0, amax = 0;
                foreach (float v in xs)
                    if (MathF.Abs(v) > amax) { amax = MathF.Abs(v); max = v; }
                var q = MemoryMarshal.Cast<byte, sbyte>(block.Slice(4, 256));
                var sums = MemoryMarshal.Cast<byte, short>(block.Slice(260, 32));
                if (amax == 0)
                {
                    Assert.Equal(0f, MemoryMarshal.Read<float>(block));
                    Assert.All(q.ToArray(), v => Assert.Equal(0, v));
                    continue;
                }
                float iscale = -127f / max;
                Assert.Equal(1 / iscale, MemoryMarshal.Read<float>(block));
                for (int i = 0; i < 256; i++)
                    Assert.Equal((sbyte)Math.Min(127, (int)MathF.Round(iscale * xs[i], MidpointRounding.ToEven)), q[i]);
                for (int j = 0; j < 16; j++)
                {
                    int sum = 0;
                    for (int i = 0; i < 16; i++) sum += q[16 * j + i];
                    Assert.Equal(sum, sums[j]);
                }
            }
        }
    }

    [Fact]
    public void MatMulIsBatchInvariant()
    {
        int rows = 37, cols = 512, n = 5;
        var values = Values(rows * cols, 9);
        unsafe
        {
            fixed (float* p = values)
            {
                var w = WeightMatrix.FromPinned("w", p, rows, cols).Quantize(WeightFormat.Q4_K);
                Assert.Equal(WeightFormat.Q4_K, w.Format);
                var x = Values(n * cols, 10);
                var all = new float[n * rows];
                MatMul.Compute(w, x, n, all);
                for (int t = 0; t < n; t++)
                {
                    var one = new float[rows];
                    MatMul.Compute(w, x.AsSpan(t * cols, cols), 1, one);
                    Assert.Equal(one, all.AsSpan(t * rows, rows).ToArray());
                }
            }
        }
    }
}

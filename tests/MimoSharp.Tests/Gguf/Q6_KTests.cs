using System.Runtime.InteropServices;
using MimoSharp.Checkpoints;
using MimoSharp.Inference;
using MimoSharp.Model;
using MimoSharp.Tensors;
using MimoSharp.Tests.Support;

namespace MimoSharp.Tests.Gguf;

/// <summary>Q6_K read as stored from GGUF: ggml's layout, the kernel against the dequantised product, a file end to end.</summary>
public sealed class Q6_KTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), $"mimo-q6k-{Guid.NewGuid():N}");

    public Q6_KTests() => Directory.CreateDirectory(_dir);

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    /// <summary>A block packed the way ggml's quantize_row_q6_K_ref packs levels L[0..255], scales and d.</summary>
    private static byte[] Pack(int[] levels, sbyte[] scales, Half d)
    {
        var block = new byte[Q6_K.BlockBytes];
        for (int n = 0; n < 2; n++)
            for (int l = 0; l < 32; l++)
            {
                int q1 = levels[128 * n + l], q2 = levels[128 * n + l + 32], q3 = levels[128 * n + l + 64], q4 = levels[128 * n + l + 96];
                block[64 * n + l] = (byte)((q1 & 0xF) | (q3 & 0xF) << 4);
                block[64 * n + l + 32] = (byte)((q2 & 0xF) | (q4 & 0xF) << 4);
                block[128 + 32 * n + l] = (byte)(q1 >> 4 | (q2 >> 4) << 2 | (q3 >> 4) << 4 | (q4 >> 4) << 6);
            }
        for (int j = 0; j < 16; j++) block[192 + j] = (byte)scales[j];
        MemoryMarshal.Write(block.AsSpan(208), in d);
        return block;
    }

    private static byte[] RandomRow(Random rng, int cols, float scale = 1e-3f)
    {
        var row = new byte[Q6_K.RowBytes(cols)];
        for (int b = 0; b < Q6_K.Blocks(cols); b++)
        {
            var levels = Enumerable.Range(0, 256).Select(_ => rng.Next(64)).ToArray();
            var scales = Enumerable.Range(0, 16).Select(_ => (sbyte)rng.Next(-128, 128)).ToArray();
            Pack(levels, scales, (Half)(scale * (0.5 + rng.NextDouble()))).CopyTo(row, b * Q6_K.BlockBytes);
        }
        return row;
    }

    [Fact]
    public void HandPackedBlockDecodesWithGgmlsLayout()
    {
        var levels = Enumerable.Range(0, 256).Select(i => (i * 37 + 5) % 64).ToArray();
        var scales = Enumerable.Range(0, 16).Select(j => (sbyte)(j * 9 - 70)).ToArray();
        var block = Pack(levels, scales, (Half)0.25f);
        var values = new float[256];
        Q6_K.DequantizeRow(block, values);
        for (int i = 0; i < 256; i++) Assert.Equal(0.25f * scales[i / 16] * (levels[i] - 32), values[i]);
    }

    [Theory]
    [InlineData(256)]
    [InlineData(1024)]
    public void MatMulMatchesTheDequantisedProductAndItsPathsAgree(int cols)
    {
        var rng = new Random(cols);
        int rows = 5, rowBytes = Q6_K.RowBytes(cols);
        var data = Enumerable.Range(0, rows).SelectMany(_ => RandomRow(rng, cols)).ToArray();
        var xq = Q8KReference.AssertMatMulMatches(WeightFormat.Q6_K, data, rows, cols, rng);
        // The SIMD integer part equals the scalar one block by block.
        for (int b = 0; b < cols / 256; b++)
        {
            var wb = data.AsSpan(rowBytes + b * Q6_K.BlockBytes, Q6_K.BlockBytes);
            var xb = xq.AsSpan(b * Q4_K.ActivationBlockBytes, Q4_K.ActivationBlockBytes);
            Assert.Equal(Q6_K.PortableDots(wb, xb), Q6_K.Avx2Dots(wb, xb));
        }
    }

    [Fact]
    public void AFileWithQ6_KTensorsComputesLikeTheSameValuesInF32()
    {
        // A dense random model (no router whose 1e-4 expert gaps quantisation could cross), its blk.0.ffn_down stored
        // once as Q6_K and once as the F32 values that Q6_K data decodes to.
        string model = Path.Combine(_dir, "dense");
        var config = SyntheticCheckpoint.Config(hidden: 256, layers: 2, experts: 8, topK: 2, moeIntermediate: 256, vocab: 512,
            heads: 4, headDim: 96, vHeadDim: 64, window: 8, denseIntermediate: 512);
        config["moe_layer_freq"] = new System.Text.Json.Nodes.JsonArray(0, 0);
        SyntheticCheckpoint.Write(model, config, mtpLayers: 1, seed: 5);
        string f32 = GgufRoundTripTests.Export(model, Path.Combine(_dir, "m.gguf"), GgmlType.F32);
        string q6 = Path.Combine(_dir, "q6.gguf"), same = Path.Combine(_dir, "same.gguf"), shuffled = Path.Combine(_dir, "shuffled.gguf");
        var rng = new Random(5);
        using (var f = GgufFile.Open(f32))
        {
            var wq = new GgufWriter();
            var wf = new GgufWriter();
            var ws = new GgufWriter();
            foreach (var (key, value) in f.Metadata)
            {
                wq.Add(key, GgufFileTests.TypeOf(key, value), value);
                wf.Add(key, GgufFileTests.TypeOf(key, value), value);
                ws.Add(key, GgufFileTests.TypeOf(key, value), value);
            }
            foreach (var t in f.TensorList)
            {
                byte[] bytes = f.Bytes(t).ToArray();
                if (t.Name != "blk.0.ffn_down.weight")
                {
                    wq.AddTensor(t.Name, t.Dims, t.Type, s => s.Write(bytes));
                    wf.AddTensor(t.Name, t.Dims, t.Type, s => s.Write(bytes));
                    ws.AddTensor(t.Name, t.Dims, t.Type, s => s.Write(bytes));
                    continue;
                }
                int cols = (int)t.Dims[0], rows = (int)t.Dims[1];
                var q = Enumerable.Range(0, rows).SelectMany(_ => RandomRow(rng, cols, 5e-6f)).ToArray();
                var values = new float[rows * cols];
                for (int r = 0; r < rows; r++) Q6_K.DequantizeRow(q.AsSpan(r * Q6_K.RowBytes(cols), Q6_K.RowBytes(cols)), values.AsSpan(r * cols, cols));
                var floats = MemoryMarshal.AsBytes(values.AsSpan()).ToArray();
                // The control: the same values with the rows in reverse order, which a layout mistake would resemble.
                var reversed = Enumerable.Range(0, rows).Reverse().SelectMany(r => floats.Skip(r * cols * 4).Take(cols * 4)).ToArray();
                wq.AddTensor(t.Name, t.Dims, GgmlType.Q6_K, s => s.Write(q));
                wf.AddTensor(t.Name, t.Dims, GgmlType.F32, s => s.Write(floats));
                ws.AddTensor(t.Name, t.Dims, GgmlType.F32, s => s.Write(reversed));
            }
            wq.Write(q6);
            wf.Write(same);
            ws.Write(shuffled);
        }
        int[] ids = [3, 17, 42, 99, 5, 250];
        using var quantised = MimoModel.Load(q6);
        using var reference = MimoModel.Load(same);
        var a = TeacherForcing.Run(quantised, ids).Logits;
        var b = TeacherForcing.Run(reference, ids).Logits;
        double gap = a.Zip(b, (u, v) => Math.Abs(u - v)).Max();
        using var control = MimoModel.Load(shuffled);
        double controlGap = TeacherForcing.Run(control, ids).Logits.Zip(b, (u, v) => Math.Abs(u - v)).Max();
        double range = b.Max() - b.Min();
        // Only the Q8_K rounding of that one matrix's inputs differs (measured: 0.3% of the range); rows in the wrong
        // order move them 80 times more; a float fallback would give no gap at all.
        Assert.True(gap <= 1e-2 * range, $"gap {gap}, logits spanning {range}");
        Assert.True(controlGap > 10 * gap, $"control gap {controlGap}, Q6_K gap {gap}");
        Assert.NotEqual(0, gap);
    }
}

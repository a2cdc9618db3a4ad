using System.Runtime.InteropServices;
using MimoSharp.Checkpoints;
using MimoSharp.Model;
using MimoSharp.Tensors;
using MimoSharp.Tests.Gguf;
using MimoSharp.Tests.Support;

namespace MimoSharp.Tests.Tensors;

/// <summary>Block-format weights that cannot be right are refused at load, naming the tensor, row and block.</summary>
public sealed class BlockFormatBadInputTests
{
    private static unsafe Exception Load(byte[] data, WeightFormat format, int rows, int cols)
    {
        fixed (byte* p = data)
        {
            var info = new TensorInfo { Name = "w", DType = DType.U8, Shape = [rows, cols], File = "bad.gguf", Data = p, ByteLength = data.Length, BlockFormat = format };
            return Assert.Throws<CheckpointException>(() => WeightMatrix.From(info, null, null));
        }
    }

    [Theory]
    [InlineData(WeightFormat.Q8_0, 34, 0, "scale")]
    [InlineData(WeightFormat.Q4_K, 144, 0, "scale")]
    [InlineData(WeightFormat.Q4_K, 144, 2, "min scale")]
    [InlineData(WeightFormat.Q5_K, 176, 2, "min scale")]
    [InlineData(WeightFormat.Q6_K, 210, 208, "scale")]
    public void ANonFiniteBlockScaleIsRefused(WeightFormat format, int blockBytes, int scaleOffset, string which)
    {
        int values = format == WeightFormat.Q8_0 ? 32 : 256, rows = 5, cols = 2 * values;
        var data = new byte[rows * 2 * blockBytes];   // all-zero blocks are valid (scale 0)
        int at = 3 * 2 * blockBytes + blockBytes + scaleOffset;   // row 3, block 1
        MemoryMarshal.Write(data.AsSpan(at), Half.NaN);
        var e = Load(data, format, rows, cols);
        Assert.Contains("tensor w in bad.gguf: row 3, block 1 has a non-finite " + which, e.Message);
        MemoryMarshal.Write(data.AsSpan(at), Half.PositiveInfinity);
        Assert.Contains("non-finite", Load(data, format, rows, cols).Message);
    }

    [Theory]
    [InlineData(WeightFormat.Q8_0)]
    [InlineData(WeightFormat.Q6_K)]
    public void AByteLengthThatDoesNotFitTheShapeIsRefused(WeightFormat format)
    {
        int cols = format == WeightFormat.Q8_0 ? 64 : 256, rowBytes = format == WeightFormat.Q8_0 ? 68 : 210;
        var e = Load(new byte[4 * rowBytes - 1], format, 4, cols);
        Assert.Contains($"has {4 * rowBytes - 1} bytes, expected {4 * rowBytes}", e.Message);
    }

    [Fact]
    public unsafe void NaNAmongWeightsQuantisedAtLoadIsRefused()
    {
        var values = new float[8 * 64];
        values[5 * 64 + 40] = float.NaN;
        fixed (float* p = values)
        {
            var w = WeightMatrix.FromPinned("layers.0.q_proj.weight", p, 8, 64);
            var e = Assert.Throws<CheckpointException>(() => w.Quantize(WeightFormat.Q8_0));
            Assert.Contains("tensor layers.0.q_proj.weight: row 5, block 1 has a non-finite scale", e.Message);
        }
    }

    [Fact]
    public void AGgufFileWithACorruptScaleNamesTheFileAndTensor()
    {
        string dir = Path.Combine(Path.GetTempPath(), $"mimo-badscale-{Guid.NewGuid():N}");
        Directory.CreateDirectory(dir);
        try
        {
            string gguf = GgufRoundTripTests.Export(Fixtures.Dir("tiny_bf16"), Path.Combine(dir, "m.gguf"), GgmlType.Q8_0);
            byte[] firstRow;
            using (var f = GgufFile.Open(gguf)) firstRow = f.Bytes(f.Tensors["blk.0.ffn_down.weight"])[..Q8_0.RowBytes(256)].ToArray();
            var bytes = File.ReadAllBytes(gguf);
            int offset = bytes.AsSpan().IndexOf(firstRow);
            Assert.True(offset > 0);
            MemoryMarshal.Write(bytes.AsSpan(offset), Half.NaN);
            File.WriteAllBytes(gguf, bytes);
            var e = Assert.Throws<CheckpointException>(() => MimoModel.Load(gguf).Dispose());
            Assert.Contains("model.layers.0.mlp.down_proj.weight in " + gguf + ": row 0, block 0 has a non-finite scale", e.Message);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}

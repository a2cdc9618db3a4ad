using MimoSharp.Checkpoints;
using MimoSharp.Inference;
using MimoSharp.Model;
using MimoSharp.Tensors;
using MimoSharp.Tests.Support;

namespace MimoSharp.Tests.Checkpoints;

/// <summary>Quantising or repacking at load drops the stored weights' pages; nothing read afterwards may change.</summary>
public sealed class MappedPagesTests
{
    [Fact]
    public unsafe void ReleasedPagesReadBackUnchanged()
    {
        using var file = SafetensorsFile.Open(Path.Combine(Fixtures.Dir("tiny_bf16"), "model.safetensors"));
        var info = file.Tensors.Values.OrderByDescending(t => t.ByteLength).First();
        Assert.True(info.Mapped);
        var before = new ReadOnlySpan<byte>(info.Data, checked((int)info.ByteLength)).ToArray();
        MappedFile.Release(info.Data, info.ByteLength);
        Assert.Equal(before, new ReadOnlySpan<byte>(info.Data, checked((int)info.ByteLength)).ToArray());
    }

    [Fact]
    public unsafe void QuantisingAtLoadLeavesTheStoredMatrixReadable()
    {
        using var file = SafetensorsFile.Open(Path.Combine(Fixtures.Dir("tiny_bf16"), "model.safetensors"));
        var info = file.Tensors.Values.First(t => t.Shape.Length == 2 && t.DType == DType.BF16);
        var stored = WeightMatrix.From(info, null, null);
        var rows = new float[stored.Rows][];
        for (int r = 0; r < stored.Rows; r++) rows[r] = stored.Row(r, new float[stored.Cols]).ToArray();
        var first = stored.Quantize(WeightFormat.Q8_0);   // releases the stored pages
        var second = stored.Quantize(WeightFormat.Q8_0);  // reads them again from the file
        var a = new byte[Q8_0.RowBytes(stored.Cols)];
        var b = new byte[a.Length];
        for (int r = 0; r < stored.Rows; r++)
        {
            Assert.Equal(rows[r], stored.Row(r, new float[stored.Cols]).ToArray());
            first.CopyBlockRow(r, a);
            second.CopyBlockRow(r, b);
            Assert.Equal(a, b);
        }
    }

    [Fact]
    public unsafe void MemoryThatIsNotAFileMappingIsNeverReleased()
    {
        // A matrix over the caller's memory (FromPinned, or a TensorInfo not from a file) must keep its values:
        // dropping anonymous pages would zero them.
        var values = Enumerable.Range(0, 64 * 64).Select(i => (float)Math.Sin(i)).ToArray();
        fixed (float* p = values)
        {
            var q = WeightMatrix.FromPinned("w", p, 64, 64).Quantize(WeightFormat.Q4_K);
            Assert.Equal(WeightFormat.Q4_K, q.Format);
        }
        Assert.Equal(Math.Sin(5), values[5], 6);
        var blocks = new byte[Q8_0.RowBytes(64) * 16];
        new Random(1).NextBytes(blocks);
        for (int b = 0; b < blocks.Length / Q8_0.BlockBytes; b++)   // finite scales: random bits could be NaN
            System.Runtime.InteropServices.MemoryMarshal.Write(blocks.AsSpan(b * Q8_0.BlockBytes), (Half)0.01f);
        var copy = blocks.ToArray();
        fixed (byte* p = blocks)
        {
            var info = new TensorInfo { Name = "w", DType = DType.U8, Shape = [16, 64], File = "memory", Data = p, ByteLength = blocks.Length, BlockFormat = WeightFormat.Q8_0 };
            WeightMatrix.From(info, null, null);
        }
        Assert.Equal(copy, blocks);
    }

    [Fact]
    public void CheckpointsLoadThroughSymbolicLinks()
    {
        // Hugging Face caches hold a model folder of links to blobs: a link's own length must not be taken for the file's.
        string dir = Path.Combine(Path.GetTempPath(), $"mimo-links-{Environment.ProcessId}");
        Directory.CreateDirectory(dir);
        try
        {
            foreach (var file in Directory.GetFiles(Fixtures.Dir("tiny_bf16")))
                File.CreateSymbolicLink(Path.Combine(dir, Path.GetFileName(file)), file);
            using var linked = MimoModel.Load(dir);
            using var direct = MimoModel.Load(Fixtures.Dir("tiny_bf16"));
            int[] ids = [1, 2, 3];
            Assert.Equal(TeacherForcing.Run(direct, ids).Logits, TeacherForcing.Run(linked, ids).Logits);
            string gguf = Path.Combine(dir, "model.gguf"), link = Path.Combine(dir, "linked.gguf");
            using (var checkpoint = Checkpoint.Open(Fixtures.Dir("tiny_bf16")))
                GgufExport.Write(checkpoint, MimoModel.CountMtpLayers(checkpoint), gguf, new GgufExportOptions());
            File.CreateSymbolicLink(link, gguf);
            using var viaLink = MimoModel.Load(link);
            Assert.Equal(direct.VocabSize, viaLink.VocabSize);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}

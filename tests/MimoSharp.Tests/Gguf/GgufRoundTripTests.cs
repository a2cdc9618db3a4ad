using MimoSharp.Checkpoints;
using MimoSharp.Inference;
using MimoSharp.Model;
using MimoSharp.Tensors;
using MimoSharp.Tests.Support;

namespace MimoSharp.Tests.Gguf;

/// <summary>
/// A model written as GGUF and loaded back computes what the original folder computes: bit for bit for float
/// exports, and bit for bit against quantising at load (--quant) for Q8_0/Q4_K exports, since both use the
/// same quantiser and kernels and keep the same tensors (embedding, router) unquantised.
/// </summary>
public sealed class GgufRoundTripTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), $"mimo-gguf-{Guid.NewGuid():N}");

    public GgufRoundTripTests() => Directory.CreateDirectory(_dir);

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    internal static string Export(string model, string path, GgmlType? type)
    {
        using var checkpoint = Checkpoint.Open(model);
        GgufExport.Write(checkpoint, MimoModel.CountMtpLayers(checkpoint), path, new GgufExportOptions { Matrices = type });
        return path;
    }

    private static TeacherForcedOutputs Run(string model, WeightFormat? quant, int[] ids)
    {
        using var m = MimoModel.Load(model, quant);
        return TeacherForcing.Run(m, ids);
    }

    private static void AssertSame(TeacherForcedOutputs want, TeacherForcedOutputs got)
    {
        Assert.Equal(want.Logits, got.Logits);
        Assert.Equal(want.HiddenPrenorm, got.HiddenPrenorm);
        Assert.Equal(want.MtpLogits.Length, got.MtpLogits.Length);
        for (int k = 0; k < want.MtpLogits.Length; k++) Assert.Equal(want.MtpLogits[k], got.MtpLogits[k]);
    }

    [Theory]
    [InlineData("tiny_bf16")] // auto: BF16 stays BF16
    [InlineData("tiny_f32")]  // auto: F32 stays F32
    public void FloatExportsComputeExactlyWhatTheFolderComputes(string fixture)
    {
        int[] ids = Fixtures.Ints(Fixtures.Expected(fixture).GetProperty("input_ids"));
        string gguf = Export(Fixtures.Dir(fixture), Path.Combine(_dir, fixture + ".gguf"), null);
        AssertSame(Run(Fixtures.Dir(fixture), null, ids), Run(gguf, null, ids));
    }

    /// <summary>
    /// Widening to F32 keeps every weight's value (FP8 as value × block scale); only the kernel changes (the
    /// F32 dot sums in another order than the BF16 and FP8 ones), so the logits agree to float rounding.
    /// </summary>
    [Theory]
    [InlineData("tiny_fp8")]
    [InlineData("tiny_bf16")]
    public void F32ExportsKeepEveryWeightsValue(string fixture)
    {
        int[] ids = Fixtures.Ints(Fixtures.Expected(fixture).GetProperty("input_ids"));
        string gguf = Export(Fixtures.Dir(fixture), Path.Combine(_dir, fixture + ".f32.gguf"), GgmlType.F32);
        var want = Run(Fixtures.Dir(fixture), null, ids);
        var got = Run(gguf, null, ids);
        Assert.InRange(want.Logits.Zip(got.Logits, (a, b) => Math.Abs(a - b)).Max(), 0, 1e-4);
        for (int k = 0; k < want.MtpLogits.Length; k++)
            Assert.InRange(want.MtpLogits[k].Zip(got.MtpLogits[k], (a, b) => Math.Abs(a - b)).Max(), 0, 1e-4);
    }

    [Fact]
    public void Q8_0ExportComputesExactlyWhatQuantisingAtLoadComputes()
    {
        int[] ids = Fixtures.Ints(Fixtures.Expected("tiny_bf16").GetProperty("input_ids"));
        string gguf = Export(Fixtures.Dir("tiny_bf16"), Path.Combine(_dir, "q8.gguf"), GgmlType.Q8_0);
        using (var file = GgufFile.Open(gguf))
        {
            Assert.Equal(GgmlType.Q8_0, file.Tensors["blk.1.ffn_down_exps.weight"].Type);
            Assert.Equal(GgmlType.BF16, file.Tensors["token_embd.weight"].Type);    // looked up, never quantised
            Assert.Equal(GgmlType.BF16, file.Tensors["blk.1.ffn_gate_inp.weight"].Type); // the router decides, never quantised
        }
        AssertSame(Run(Fixtures.Dir("tiny_bf16"), WeightFormat.Q8_0, ids), Run(gguf, null, ids));
    }

    [Fact]
    public void Q4_KExportComputesExactlyWhatQuantisingAtLoadComputes()
    {
        // Every matrix row a multiple of 256 values, so nothing falls back to Q8_0.
        var config = SyntheticCheckpoint.Config(hidden: 256, layers: 3, experts: 4, topK: 2, moeIntermediate: 256, vocab: 300,
            heads: 4, headDim: 96, vHeadDim: 64, window: 4, denseIntermediate: 256);
        string model = Path.Combine(_dir, "synthetic");
        SyntheticCheckpoint.Write(model, config, mtpLayers: 1, seed: 3);
        string gguf = Export(model, Path.Combine(_dir, "q4.gguf"), GgmlType.Q4_K);
        using (var file = GgufFile.Open(gguf))
            Assert.All(file.TensorList.Where(t => t.Dims.Length > 1 && t.Name != "token_embd.weight" && !t.Name.Contains("ffn_gate_inp")),
                t => Assert.Equal(GgmlType.Q4_K, t.Type));
        int[] ids = [5, 17, 250, 3, 99, 42, 7, 180, 11, 64];
        var atLoad = Run(model, WeightFormat.Q4_K, ids);
        AssertSame(atLoad, Run(gguf, null, ids));
        // And Q4_K is a real, coarser-than-Q8_0 approximation of the weights (mean gaps: routing flips on
        // random weights make the maximum gap of either format jump).
        var exact = Run(model, null, ids);
        var q8 = Run(model, WeightFormat.Q8_0, ids);
        double gap4 = exact.Logits.Zip(atLoad.Logits, (a, b) => Math.Abs(a - b)).Average();
        double gap8 = exact.Logits.Zip(q8.Logits, (a, b) => Math.Abs(a - b)).Average();
        double span = exact.Logits.Average(Math.Abs);
        Assert.True(gap4 > gap8 && gap4 < 0.25 * span, $"Q4_K mean gap {gap4:F4}, Q8_0 {gap8:F4}, mean |logit| {span:F4}");
    }

    [Fact]
    public void Q4_KExportFallsBackWhereRowsDoNotFillSuperBlocks()
    {
        string gguf = Export(Fixtures.Dir("tiny_bf16"), Path.Combine(_dir, "q4.gguf"), GgmlType.Q4_K);
        using var file = GgufFile.Open(gguf);
        Assert.Equal(GgmlType.Q8_0, file.Tensors["blk.1.ffn_down_exps.weight"].Type); // 32 values per row
        Assert.Equal(GgmlType.Q8_0, file.Tensors["blk.0.attn_q.weight"].Type); // 128 values per row
        Assert.Equal(GgmlType.Q4_K, file.Tensors["blk.0.ffn_down.weight"].Type); // 256 values per row
        using var model = MimoModel.Load(gguf);
        var outs = TeacherForcing.Run(model, [1, 2, 3, 4]);
        Assert.All(outs.Logits, x => Assert.True(float.IsFinite(x)));
    }
}

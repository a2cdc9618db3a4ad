using System.Text.Json.Nodes;
using MimoSharp.Checkpoints;
using MimoSharp.Inference;
using MimoSharp.Model;
using MimoSharp.Tensors;
using MimoSharp.Tests.Support;

namespace MimoSharp.Tests.Model;

/// <summary>Quantised weights stay within a stated distance of the exact logits, and keep batch invariance.</summary>
public sealed class QuantizedTests : IDisposable
{
    /// <summary>
    /// Q8_0 tolerance on logits spanning about ±4: max-abs 0.25 (measured: 0.19 on the dense model below,
    /// 0.04–0.14 per fixture position). The whole sequence is checked on a dense model (every FFN dense),
    /// because in an MoE model quantisation can flip an expert choice whose gap is ~1e-4 (the fixtures' gaps),
    /// and a different expert moves a logit by whole units; on the fixtures, positions before the first flip.
    /// </summary>
    public const double Q8Tolerance = 0.25;

    private readonly string _dir = Path.Combine(Path.GetTempPath(), "mimo-q8-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(_dir)) Directory.Delete(_dir, recursive: true);
    }

    [Fact]
    public void Q8_0LogitsStayCloseToTheExactOnesOnADenseModel()
    {
        var cfg = SyntheticCheckpoint.Config(hidden: 128, layers: 6, experts: 4, topK: 2, moeIntermediate: 64, vocab: 320,
            heads: 4, headDim: 48, vHeadDim: 32, window: 8, denseIntermediate: 256);
        cfg["moe_layer_freq"] = new JsonArray(0, 0, 0, 0, 0, 0);
        SyntheticCheckpoint.Write(_dir, cfg, mtpLayers: 1, seed: 4, dtype: DType.BF16);
        int[] ids = Enumerable.Range(0, 40).Select(i => (i * 53 + 11) % 320).ToArray();
        using var exactModel = MimoModel.Load(_dir);
        using var q8 = MimoModel.Load(_dir, WeightFormat.Q8_0);
        var exact = TeacherForcing.Run(exactModel, ids);
        var quant = TeacherForcing.Run(q8, ids);
        double gap = 0;
        for (int i = 0; i < exact.Logits.Length; i++) gap = Math.Max(gap, Math.Abs(exact.Logits[i] - quant.Logits[i]));
        double scale = exact.Logits.Max(x => Math.Abs(x));
        Assert.True(gap > 1e-5 && gap <= Q8Tolerance, $"gap {gap} (logits up to {scale})");
        double mtpGap = 0;
        for (int i = 0; i < exact.MtpLogits[0].Length; i++) mtpGap = Math.Max(mtpGap, Math.Abs(exact.MtpLogits[0][i] - quant.MtpLogits[0][i]));
        Assert.InRange(mtpGap, 0, Q8Tolerance);
        Assert.Equal(quant.Logits, TeacherForcing.Run(q8, ids, chunk: 1).Logits);
    }

    public static TheoryData<string> All() => new(Fixtures.Names);

    [Theory]
    [MemberData(nameof(All))]
    public void Q8_0FixturesStayCloseBeforeTheFirstRoutingFlip(string fixture)
    {
        var expected = Fixtures.Expected(fixture);
        int[] ids = Fixtures.Ints(expected.GetProperty("input_ids"));
        using var tensors = Fixtures.ExpectedTensors(fixture);
        using var model = MimoModel.Load(Fixtures.Dir(fixture), WeightFormat.Q8_0);
        int v = model.VocabSize, t = ids.Length;

        // The first position whose experts differ from the reference's in any MoE layer.
        int firstFlip = t;
        var routing = new RecordedRouting(model.Config, t);
        model.Forward(ids, BatchLayout.Single(0, t), [model.CreateCaches()], new float[t * model.HiddenSize], routing);
        foreach (var layer in model.Layers)
        {
            if (layer.FeedForward is not MoeFeedForward moe) continue;
            var reference = tensors.Tensors[$"route_idx.{layer.Index}"].ToInt64();
            int k = moe.Router.TopK;
            for (int row = 0; row < t; row++)
            {
                var want = reference.AsSpan(row * k, k).ToArray().Order();
                var got = routing.OfLayer(layer.Index).AsSpan(row * k, k).ToArray().Select(e => (long)e).Order();
                if (!want.SequenceEqual(got)) firstFlip = Math.Min(firstFlip, row);
            }
        }
        var outs = TeacherForcing.Run(model, ids);
        var exact = tensors.Tensors["logits"].ToFloat64();
        for (int p = 0; p < firstFlip; p++)
        {
            double gap = Fixtures.MaxAbsDiff(outs.Logits.AsSpan(p * v, v), exact.AsSpan(p * v, v));
            Assert.True(gap <= Q8Tolerance, $"position {p} (before any routing flip) is {gap:F3} from the exact logits");
        }
        Assert.Equal(outs.Logits, TeacherForcing.Run(model, ids, chunk: 1).Logits);
    }
}

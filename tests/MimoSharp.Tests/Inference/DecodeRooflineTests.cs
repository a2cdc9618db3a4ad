using MimoSharp.Inference;
using MimoSharp.Model;
using MimoSharp.Tests.Support;

namespace MimoSharp.Tests.Inference;

/// <summary>The decoding step's cost model against the model's own byte counts, a simulation and its limits.</summary>
public sealed class DecodeRooflineTests
{
    private static string DefaultModelDir => Path.Combine(Fixtures.RepoRoot, "models", "default");

    [Fact]
    public void APlainStepOfOneRowReadsWhatTheModelSaysOneTokenReads()
    {
        using var model = MimoModel.Load(DefaultModelDir);
        var roofline = new DecodeRoofline(model, 30e9, 300e9);
        foreach (int context in new[] { 200, 4096 })
        {
            var pass = roofline.MainPass(batch: 1, rowsPerSequence: 1, context);
            Assert.Equal(model.ActiveWeightBytesPerToken(), pass.WeightBytes, 6);
            // The main layers' KV: the global layers' whole context, the window layers' window (MTP layers not in this pass).
            double kv = model.Layers.Sum(l => (double)LayerKvCache.BytesPerPosition(l.Attention.KeyWidth, l.Attention.ValueWidth, model.KvCacheDtype)
                * (l.IsSlidingWindow ? Math.Min(l.Attention.Window, context) : context));
            Assert.Equal(kv, pass.KvBytes, 6);
            Assert.Equal(pass.Bytes / 30e9, pass.Seconds, 12);   // one row: far below the ridge
        }
    }

    [Fact]
    public void TheExpectedExpertUnionMatchesASimulationOfUniformRouting()
    {
        var rng = new Random(7);
        foreach (var (experts, topK, rows) in new[] { (12, 2, 1), (12, 2, 4), (12, 2, 16), (256, 8, 4), (256, 8, 128) })
        {
            double total = 0;
            const int trials = 4000;
            for (int t = 0; t < trials; t++)
            {
                var used = new HashSet<int>();
                for (int r = 0; r < rows; r++)
                    foreach (int e in Enumerable.Range(0, experts).OrderBy(_ => rng.Next()).Take(topK)) used.Add(e);
                total += used.Count;
            }
            double expected = DecodeRoofline.ExpectedExpertUnion(experts, topK, rows);
            Assert.InRange(total / trials, expected * 0.98, expected * 1.02);
        }
        Assert.Equal(2, DecodeRoofline.ExpectedExpertUnion(12, 2, 1), 12);
    }

    [Fact]
    public void ManyRowsTurnAStepComputeBoundAndSpeculationPaysOnlyAboveItsBreakEven()
    {
        using var model = MimoModel.Load(DefaultModelDir);
        var roofline = new DecodeRoofline(model, 30e9, 300e9);
        var wide = roofline.MainPass(batch: 512, rowsPerSequence: 4, context: 512);
        Assert.True(wide.Flops / wide.Bytes > roofline.RidgeFlopsPerByte);
        Assert.Equal(wide.Flops / 300e9, wide.Seconds, 12);

        for (int k = 1; k <= model.MtpLayers.Count; k++)
        {
            double breakEven = roofline.BreakEvenAcceptance(1, 512, k);
            Assert.InRange(breakEven, 1.0, k + 1.0);
            Assert.Equal(1.0, roofline.Speedup(1, 512, k, breakEven), 2);
            Assert.True(roofline.Speedup(1, 512, k, Math.Min(k + 1, breakEven + 0.5)) > 1);
            Assert.True(roofline.Speedup(1, 512, k, Math.Max(1, breakEven - 0.3)) < 1);
        }
        // More drafts read more experts per step (12 experts, top-2): a step with 3 drafts costs more than one without.
        Assert.True(roofline.Step(1, 512, 3, 3).Seconds > roofline.Step(1, 512, 0, 1).Seconds);
    }

    /// <summary>Other shapes (the fixtures' dimensions, FP8 and BF16 storage): one row still reads what the model says.</summary>
    [Theory]
    [MemberData(nameof(FixtureNames))]
    public void OtherShapesAgreeWithTheModelsOwnCount(string fixture)
    {
        using var model = MimoModel.Load(Fixtures.Dir(fixture));
        var roofline = new DecodeRoofline(model, 30e9, 300e9);
        Assert.Equal(model.ActiveWeightBytesPerToken(), roofline.MainPass(1, 1, 16).WeightBytes, 6);
        for (int k = 1; k <= model.MtpLayers.Count; k++)
            Assert.True(roofline.Step(1, 16, k, 1).Seconds > roofline.Step(1, 16, 0, 1).Seconds);
    }

    public static TheoryData<string> FixtureNames() => new(Fixtures.Names);

    [Fact]
    public void ARooflineNeedsAPositiveBandwidthAndPeak()
    {
        using var model = MimoModel.Load(Fixtures.Dir("tiny_f32"));
        Assert.Throws<ArgumentOutOfRangeException>(() => new DecodeRoofline(model, 0, 1e9));
        Assert.Throws<ArgumentOutOfRangeException>(() => new DecodeRoofline(model, 1e9, -1));
        Assert.Throws<ArgumentOutOfRangeException>(() => new DecodeRoofline(model, 1e9, 1e9).MainPass(0, 1, 10));
    }
}

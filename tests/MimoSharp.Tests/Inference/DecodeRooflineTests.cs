using MimoSharp.Inference;
using MimoSharp.Model;
using MimoSharp.Tensors;
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
        Assert.Throws<ArgumentOutOfRangeException>(() => new DecodeRoofline(model, 1e9, 1e9, new DecodeRoofline.CacheTier(0, 1e9)));
        Assert.Throws<ArgumentOutOfRangeException>(() => new DecodeRoofline(model, 1e9, 1e9, new DecodeRoofline.CacheTier(1 << 20, 0)));
    }

    /// <summary>
    /// A working set that fits the cache tier is read at the cache's bandwidth; of a larger one the cache serves the
    /// share it can hold and DRAM the rest. The working set is every weight (MTP and all experts included) plus the
    /// visible KV of every sequence, so long contexts and big batches leave the cache.
    /// </summary>
    [Fact]
    public void AWorkingSetThatFitsTheCacheIsReadAtTheCachesBandwidth()
    {
        using var model = MimoModel.Load(DefaultModelDir);
        var dram = new DecodeRoofline(model, 30e9, 300e9);
        long weights = model.Layers.Sum(l => l.Attention.Weights.Sum(w => w.StoredBytes) + l.FeedForward.Weights.Sum(w => w.StoredBytes))
            + model.MtpLayers.Sum(l => l.Weights.Sum(w => w.StoredBytes)) + model.LmHeadBytes;
        double kvPerSequence = model.Layers.Select(l => l.Attention).Concat(model.MtpLayers.Select(l => l.Attention))
            .Sum(a => (double)LayerKvCache.BytesPerPosition(a.KeyWidth, a.ValueWidth, model.KvCacheDtype) * (a.Window > 0 ? Math.Min(a.Window, 4096) : 4096));
        Assert.Equal(weights + 2 * kvPerSequence, dram.WorkingSetBytes(2, 4096), 3);

        // A cache just big enough for 2 sequences at 4k: they read at 120 GB/s; of 3 sequences' bytes it serves C / W.
        long capacity = (long)dram.WorkingSetBytes(2, 4096) + 1;
        var cached = new DecodeRoofline(model, 30e9, 300e9, new DecodeRoofline.CacheTier(capacity, 120e9));
        Assert.Equal(1, cached.CacheHitFraction(2, 4096));
        Assert.Equal(120e9, cached.BandwidthFor(2, 4096));
        double hit = capacity / cached.WorkingSetBytes(3, 4096);
        Assert.Equal(hit, cached.CacheHitFraction(3, 4096), 12);
        Assert.InRange(hit, 0.5, 0.99);
        Assert.Equal(1 / (hit / 120e9 + (1 - hit) / 30e9), cached.BandwidthFor(3, 4096), 3);
        Assert.Equal(30e9, dram.BandwidthFor(1, 16));
        Assert.Equal(0, dram.CacheHitFraction(1, 16));
        var inCache = cached.MainPass(2, 1, 4096);
        Assert.Equal(inCache.Bytes / 120e9, inCache.Seconds, 12);   // two rows: still below the ridge
        var partly = cached.MainPass(3, 1, 4096);
        Assert.Equal(partly.Bytes / cached.BandwidthFor(3, 4096), partly.Seconds, 12);
        Assert.True(partly.Seconds < dram.MainPass(3, 1, 4096).Seconds);
        // A cache of one byte serves nothing worth counting.
        var tiny = new DecodeRoofline(model, 30e9, 300e9, new DecodeRoofline.CacheTier(1, 120e9));
        Assert.Equal(dram.MainPass(3, 1, 4096).Seconds, tiny.MainPass(3, 1, 4096).Seconds, 9);
        // At cache speed a plain step is cheaper, so drafting must win back more: the break-even acceptance rises.
        Assert.True(cached.BreakEvenAcceptance(2, 4096, 3) > dram.BreakEvenAcceptance(2, 4096, 3));
    }

    [Fact]
    public void ABandwidthProbeTooSmallToSplitIsRefused()
    {
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => MemoryBandwidth.MeasureBytesPerSecond(2, bytes: 100));
        Assert.Contains("bytes", e.Message);
        Assert.True(MemoryBandwidth.MeasureBytesPerSecond(2, bytes: 1 << 20, passes: 2) > 0);
    }

    [Theory]
    [InlineData("32768K", 32L << 20)]
    [InlineData("1M", 1L << 20)]
    [InlineData("512", 512)]
    [InlineData("", 0)]
    [InlineData("big", 0)]
    public void CacheSizesParseAsSysfsWritesThem(string text, long bytes) => Assert.Equal(bytes, CacheLevels.ParseSize(text));

    [Fact]
    public void TheLastLevelIsTheHighestLevelTheSystemDescribes()
    {
        string dir = Path.Combine(Path.GetTempPath(), $"mimo-cache-{Guid.NewGuid():N}");
        try
        {
            foreach (var (index, level, size) in new[] { ("index0", "1", "48K"), ("index2", "2", "1024K"), ("index3", "3", "32768K") })
            {
                Directory.CreateDirectory(Path.Combine(dir, index));
                File.WriteAllText(Path.Combine(dir, index, "level"), level + "\n");
                File.WriteAllText(Path.Combine(dir, index, "size"), size + "\n");
            }
            Directory.CreateDirectory(Path.Combine(dir, "index4"));   // no level or size: ignored
            Assert.Equal(32L << 20, CacheLevels.ReadLastLevelBytes(dir));
            Assert.Equal(0, CacheLevels.ReadLastLevelBytes(Path.Combine(dir, "missing")));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}

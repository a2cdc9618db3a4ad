using MimoSharp.Config;
using MimoSharp.Inference;
using MimoSharp.Model;
using MimoSharp.Tensors;

namespace MimoSharp.Tests.Model;

/// <summary>
/// Attention over contexts longer than a key chunk and than the window: the chunked softmax with its fold equals
/// a float64 reference, and a row's bits do not depend on how the sequence was cut into passes (one prefill in
/// tiles of rows, token by token as in decoding, uneven chunks) nor on the number of threads.
/// </summary>
public sealed class ChunkedAttentionTests
{
    private const int Length = 3 * ChunkedAttention.ChunkKeys + 77; // several chunks and a ragged tail

    /// <summary>The head shapes the kernel is checked on.</summary>
    public enum Heads
    {
        /// <summary>3 query heads per KV head (a padded block of lanes), 24-wide keys, 16-wide values.</summary>
        Even,

        /// <summary>Head widths off the vector width: 20-wide keys, 40-wide values, 4 heads per KV head.</summary>
        Ragged,

        /// <summary>12 query heads per KV head: more than one block of lanes, the second padded.</summary>
        Wide,
    }

    public static TheoryData<int, bool, Heads> Layers() => new()
    {
        { 0, false, Heads.Even },   // global, no sink (the release's full-attention layers)
        { 0, true, Heads.Even },    // global with a sink
        { 128, true, Heads.Even },  // sliding window with a sink
        { 700, false, Heads.Even }, // a window that straddles chunk bounds
        { 0, false, Heads.Ragged },
        { 128, true, Heads.Ragged },
        { 0, true, Heads.Wide },
        { 700, false, Heads.Wide },
    };

    private static (AttentionShape Shape, float[] Q, float[] K, float[] V, float[]? Sinks) Inputs(bool sink, Heads heads)
    {
        var shape = heads switch
        {
            Heads.Ragged => new AttentionShape(NumHeads: 4, NumKvHeads: 1, HeadDim: 20, VHeadDim: 40, RopeTheta: 10000, HasSink: sink),
            Heads.Wide => new AttentionShape(NumHeads: 24, NumKvHeads: 2, HeadDim: 16, VHeadDim: 32, RopeTheta: 10000, HasSink: sink),
            _ => new AttentionShape(NumHeads: 6, NumKvHeads: 2, HeadDim: 24, VHeadDim: 16, RopeTheta: 10000, HasSink: sink),
        };
        var random = new Random(11);
        float[] Values(int n, float a) => Enumerable.Range(0, n).Select(_ => (float)(random.NextDouble() * 2 - 1) * a).ToArray();
        int h = shape.NumHeads, g = shape.NumKvHeads;
        return (shape, Values(Length * h * shape.HeadDim, 1.5f), Values(Length * g * shape.HeadDim, 1.5f),
            Values(Length * g * shape.VHeadDim, 1f), sink ? Values(h, 2f) : null);
    }

    /// <summary>Runs the sequence through a fresh cache in passes of <paramref name="pass"/> rows; returns o for every row.</summary>
    private static float[] RunInPasses(AttentionShape shape, int window, float[]? sinks, float[] q, float[] k, float[] v, int pass,
        KvCacheDtype dtype = KvCacheDtype.F32)
    {
        int qw = shape.NumHeads * shape.HeadDim, kw = shape.NumKvHeads * shape.HeadDim, vw = shape.NumKvHeads * shape.VHeadDim, ow = shape.NumHeads * shape.VHeadDim;
        int length = q.Length / qw;
        var cache = new LayerKvCache(kw, vw, window, lookahead: 0, dtype);
        var all = new float[length * ow];
        for (int start = 0; start < length; start += pass)
        {
            int n = Math.Min(pass, length - start);
            var o = new float[n * ow];
            float[] kp = k[(start * kw)..((start + n) * kw)], vp = v[(start * vw)..((start + n) * vw)];
            if (cache.HalfFormat is HalfFormat format)
            {
                // As Attention.Forward does: the pass attends its own rows as the cache will store them.
                HalfFloats.Round(kp, format);
                HalfFloats.Round(vp, format);
            }
            ChunkedAttention.Run(shape, window, 1f / MathF.Sqrt(shape.HeadDim), sinks, q[(start * qw)..((start + n) * qw)],
                kp, vp, o, new BatchLayout.Segment(0, n, start), cache);
            for (int i = 0; i < n; i++) cache.Append(k.AsSpan((start + i) * kw, kw), v.AsSpan((start + i) * vw, vw));
            o.CopyTo(all, start * ow);
        }
        return all;
    }

    [Theory]
    [MemberData(nameof(Layers))]
    public void ChunkedSoftmaxEqualsTheFloat64Reference(int window, bool sink, Heads heads)
    {
        var (shape, q, k, v, sinks) = Inputs(sink, heads);
        var o = RunInPasses(shape, window, sinks, q, k, v, Length);
        int hd = shape.HeadDim, vd = shape.VHeadDim, rep = shape.QueriesPerKvHead;
        double worst = 0;
        foreach (int p in new[] { 0, 1, 127, 128, 511, 512, 513, 1300, Length - 1 })
            for (int h = 0; h < shape.NumHeads; h++)
            {
                int g = h / rep, first = window > 0 ? Math.Max(0, p - window + 1) : 0;
                var scores = new double[p - first + 1];
                for (int j = first; j <= p; j++)
                {
                    double s = 0;
                    for (int d = 0; d < hd; d++) s += (double)q[(p * shape.NumHeads + h) * hd + d] * k[(j * shape.NumKvHeads + g) * hd + d];
                    scores[j - first] = s / Math.Sqrt(hd);
                }
                double m = Math.Max(scores.Max(), sinks is null ? double.NegativeInfinity : sinks[h]);
                double denom = scores.Sum(s => Math.Exp(s - m)) + (sinks is null ? 0 : Math.Exp(sinks[h] - m));
                for (int d = 0; d < vd; d++)
                {
                    double e = 0;
                    for (int j = first; j <= p; j++) e += Math.Exp(scores[j - first] - m) * v[(j * shape.NumKvHeads + g) * vd + d];
                    worst = Math.Max(worst, Math.Abs(e / denom - o[(p * shape.NumHeads + h) * vd + d]));
                }
            }
        Assert.InRange(worst, 0, 2e-6);
    }

    [Theory]
    [MemberData(nameof(Layers))]
    public void ARowsBitsDoNotDependOnPassesOrThreads(int window, bool sink, Heads heads)
    {
        var (shape, q, k, v, sinks) = Inputs(sink, heads);
        var whole = RunInPasses(shape, window, sinks, q, k, v, Length);
        int saved = MimoSharp.Tensors.ComputePool.Threads;
        try
        {
            foreach (int threads in new[] { 1, 2 })
            {
                MimoSharp.Tensors.ComputePool.Threads = threads;
                foreach (int pass in new[] { 1, 3, 600 }) // decoding (chunks as jobs), a speculative step, uneven prefill
                    Assert.Equal(whole, RunInPasses(shape, window, sinks, q, k, v, pass));
            }
        }
        finally
        {
            MimoSharp.Tensors.ComputePool.Threads = saved;
        }
    }

    [Fact]
    public void DecodingALongContextInRunsOfChunksPerJobGivesThePrefillsBits()
    {
        // 13 chunks: a decoding step's jobs take several consecutive chunks each (and fetch the next one's keys).
        var shape = new AttentionShape(NumHeads: 8, NumKvHeads: 1, HeadDim: 8, VHeadDim: 16, RopeTheta: 10000, HasSink: true);
        int length = 12 * ChunkedAttention.ChunkKeys + 5;
        var random = new Random(5);
        float[] Values(int n) => Enumerable.Range(0, n).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray();
        float[] q = Values(length * 8 * 8), k = Values(length * 8), v = Values(length * 16), sinks = Values(8);
        var whole = RunInPasses(shape, 0, sinks, q, k, v, length);
        int saved = MimoSharp.Tensors.ComputePool.Threads;
        try
        {
            foreach (int threads in new[] { 1, 2 })
            {
                MimoSharp.Tensors.ComputePool.Threads = threads;
                Assert.Equal(whole, RunInPasses(shape, 0, sinks, q, k, v, 1));
            }
        }
        finally
        {
            MimoSharp.Tensors.ComputePool.Threads = saved;
        }
    }

    public static TheoryData<KvCacheDtype, int, bool, Heads> TiledPrefills() => new()
    {
        { KvCacheDtype.F32, 0, true, Heads.Wide },     // global with sinks, two blocks of lanes
        { KvCacheDtype.F32, 128, true, Heads.Even },   // sliding window: a tile's late rows have left chunks its early rows see
        { KvCacheDtype.F32, 700, false, Heads.Ragged },
        { KvCacheDtype.BF16, 0, true, Heads.Even },    // a 16-bit cache's chunk widened once for the whole tile
        { KvCacheDtype.F16, 128, true, Heads.Wide },
    };

    [Theory]
    [MemberData(nameof(TiledPrefills))]
    public void ATiledPrefillGivesEachRowTheBitsOfOneRowPerPass(KvCacheDtype dtype, int window, bool sink, Heads heads)
    {
        var (shape, q, k, v, sinks) = Inputs(sink, heads);
        // One row per pass never tiles: each chunk is its own job and the row folds them after.
        var oneRowPerPass = RunInPasses(shape, window, sinks, q, k, v, 1, dtype);
        int saved = MimoSharp.Tensors.ComputePool.Threads;
        try
        {
            // The thread count sets the rows per tile (1 thread: 32; 3 threads: fewer), so tiles start at other rows.
            foreach (int threads in new[] { 1, 2, 3 })
            {
                MimoSharp.Tensors.ComputePool.Threads = threads;
                // The whole prefill in one pass; a second pass starting mid-chunk at 1,000 over three cached chunks;
                // passes of 37 rows (tiles of 18 on 2 threads), whose tiles straddle chunk bounds.
                foreach (int pass in new[] { Length, 1000, 37 })
                    Assert.Equal(oneRowPerPass, RunInPasses(shape, window, sinks, q, k, v, pass, dtype));
            }
        }
        finally
        {
            MimoSharp.Tensors.ComputePool.Threads = saved;
        }
    }

    [Theory]
    [InlineData(KvCacheDtype.BF16, 0, false, Heads.Even)]
    [InlineData(KvCacheDtype.BF16, 128, true, Heads.Ragged)]
    [InlineData(KvCacheDtype.F16, 0, true, Heads.Even)]
    [InlineData(KvCacheDtype.F16, 700, false, Heads.Ragged)]
    [InlineData(KvCacheDtype.BF16, 0, true, Heads.Wide)]
    public void ASixteenBitCacheGivesTheFloat32BitsOfItsRoundedKeysAndValuesInAnyPasses(KvCacheDtype dtype, int window, bool sink, Heads heads)
    {
        var (shape, q, k, v, sinks) = Inputs(sink, heads);
        var format = dtype == KvCacheDtype.BF16 ? HalfFormat.BF16 : HalfFormat.F16;
        float[] kr = (float[])k.Clone(), vr = (float[])v.Clone();
        HalfFloats.Round(kr, format);
        HalfFloats.Round(vr, format);
        Assert.NotEqual(k, kr);   // the rounding is real, so the check below can fail
        // Widening the stored halves is exact and the kernels are the float32 ones: the same bits as float32
        // attention over the rounded inputs, whether rows come from the cache (passes of 1 and 3) or the pass.
        var expected = RunInPasses(shape, window, sinks, q, kr, vr, Length);
        foreach (int pass in new[] { Length, 1, 3, 600 })
            Assert.Equal(expected, RunInPasses(shape, window, sinks, q, k, v, pass, dtype));
        // …and close to float32 attention on the unrounded inputs (bf16 keeps 8 significant bits, f16 11).
        var exact = RunInPasses(shape, window, sinks, q, k, v, Length);
        double worst = exact.Zip(expected, (a, b) => Math.Abs(a - b)).Max();
        Assert.InRange(worst, 1e-7, dtype == KvCacheDtype.BF16 ? 2e-2 : 3e-3);
    }

    [Fact]
    public void ASixteenBitCacheHoldsHalfTheBytesAndReadsBackItsRoundedValues()
    {
        var f32 = new LayerKvCache(8, 16, window: 0, lookahead: 0);
        var bf16 = new LayerKvCache(8, 16, window: 0, lookahead: 0, KvCacheDtype.BF16);
        float[] key = [.. Enumerable.Range(0, 8).Select(i => 1f / (i + 3))], value = [.. Enumerable.Range(0, 16).Select(i => -100f / (i + 7))];
        for (int p = 0; p < 100; p++)
        {
            f32.Append(key, value);
            bf16.Append(key, value);
        }
        Assert.Equal(f32.AllocatedBytes / 2, bf16.AllocatedBytes);
        Assert.Equal(48, LayerKvCache.BytesPerPosition(8, 16, KvCacheDtype.F16));
        float[] rounded = (float[])value.Clone();
        HalfFloats.Round(rounded, HalfFormat.BF16);
        Assert.Equal(rounded, bf16.Value(99).ToArray());
        Assert.Equal(value, f32.Value(99).ToArray());
        Assert.Throws<ArgumentOutOfRangeException>(() => bf16.Key(100).ToArray());
    }

    [Fact]
    public void TheSoftmaxExpIsWithinTwoTenthsOfAMillionthOverItsRange()
    {
        double worst = 0;
        for (float x = 0; x > -87.3f; x -= 0.0137f)
        {
            var e = ChunkedAttention.Exp(System.Runtime.Intrinsics.Vector256.Create(x))[0];
            worst = Math.Max(worst, Math.Abs(e / Math.Exp(x) - 1));
        }
        Assert.InRange(worst, 0, 2e-7);
        Assert.Equal(1f, ChunkedAttention.Exp(System.Runtime.Intrinsics.Vector256<float>.Zero)[0]);
        Assert.Equal(0f, ChunkedAttention.Exp(System.Runtime.Intrinsics.Vector256.Create(-90f))[0]);
        Assert.Equal(0f, ChunkedAttention.Exp(System.Runtime.Intrinsics.Vector256.Create(float.NegativeInfinity))[0]);
    }
}

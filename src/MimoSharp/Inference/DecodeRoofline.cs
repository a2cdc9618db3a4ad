using MimoSharp.Model;
using MimoSharp.Tensors;

namespace MimoSharp.Inference;

/// <summary>
/// The roofline of one decoding step (the cost model behind the paper's speculative speed-up, on this machine): the
/// bytes a step moves and the FLOPs it does, pass by pass, each pass taking max(bytes / bandwidth, FLOPs / peak).
/// <list type="bullet">
/// <item>The main pass over n = batch × (K+1) rows reads every dense weight once (attention, dense FFNs, routers,
/// lm_head), and of each MoE layer the <em>union</em> of the experts its rows route to: E·(1 − (1 − k/E)^n) expected
/// under independent, uniform routing (real routing is correlated along a sequence, so this is an upper bound on
/// the bytes); each sequence's KV cache once for all its rows.</item>
/// <item>Each of the K draft passes (one MTP depth) reads its MTP block and lm_head once; its rows are the positions
/// it catches up on (≈ the acceptance length) per sequence, with one row of logits each.</item>
/// <item>A step yields batch × acceptance length tokens; plain decoding yields batch tokens from one pass of n =
/// batch rows. Speculation pays when acceptance × T(plain) / T(K) &gt; 1.</item>
/// </list>
/// FLOPs count 2 per weight element per row and, for attention, 2·heads·(key + value width) per visible key per row.
/// The bytes come from DRAM, or, with a <see cref="CacheTier"/>, from the cache for the share of them it can hold:
/// everything decoding touches step after step (every weight, all experts and MTP blocks included, and every
/// sequence's visible KV) is the working set W, and a cache of C bytes serves min(1, C / W) of each step's bytes (what
/// a cache that keeps a random part of a cyclically read set serves), the rest coming from DRAM. The default model's
/// 35 MB of weights against a 32 MB L3 are mostly such hits.
/// The figures assume kernels at the roofline; a measured step is slower by exactly what they leave on the table.
/// </summary>
public sealed class DecodeRoofline
{
    /// <summary>Bytes and FLOPs of one pass (or a whole step: their sum) and its time on the roofline.</summary>
    public readonly record struct Cost(double WeightBytes, double KvBytes, double Flops, double Seconds)
    {
        public double Bytes => WeightBytes + KvBytes;

        public static Cost operator +(Cost a, Cost b) =>
            new(a.WeightBytes + b.WeightBytes, a.KvBytes + b.KvBytes, a.Flops + b.Flops, a.Seconds + b.Seconds);
    }

    /// <summary>A cache level that holds the whole working set when it fits: its size and measured read bandwidth.</summary>
    public readonly record struct CacheTier(long CapacityBytes, double BandwidthBytesPerSecond);

    private readonly record struct LayerAttention(long WeightBytes, long WeightElements, int Heads, int KeyDim, int ValueDim,
        long KvBytesPerPosition, int Window);

    private readonly LayerAttention[] _mainAttention, _mtpAttention;
    private readonly long _denseBytes, _denseElements;                 // main pass, excluding attention, lm_head and experts
    private readonly long _expertBytes, _expertElements;               // one expert of one MoE layer
    private readonly int _moeLayers, _experts, _topK;
    private readonly long _lmHeadBytes, _lmHeadElements, _embedRowBytes;
    private readonly long[] _mtpBytes, _mtpElements;                   // per depth: its block (attention excluded)
    private readonly long _allWeightBytes;                             // every weight decoding can touch, lm_head included
    private readonly CacheTier? _cache;

    /// <summary>MTP depths the model has (the deepest draft pass this roofline can cost).</summary>
    public int MtpDepths => _mtpAttention.Length;

    /// <summary>DRAM read bandwidth: what a step whose working set does not fit the cache tier streams at.</summary>
    public double BandwidthBytesPerSecond { get; }
    public double PeakFlopsPerSecond { get; }

    /// <summary>The cache level the working set may fit in, or null (DRAM only).</summary>
    public CacheTier? Cache => _cache;

    /// <summary>FLOP per byte where a pass from DRAM turns from memory-bound to compute-bound.</summary>
    public double RidgeFlopsPerByte => PeakFlopsPerSecond / BandwidthBytesPerSecond;

    public DecodeRoofline(MimoModel model, double bandwidthBytesPerSecond, double peakFlopsPerSecond, CacheTier? cache = null)
    {
        if (bandwidthBytesPerSecond <= 0 || peakFlopsPerSecond <= 0)
            throw new ArgumentOutOfRangeException(nameof(bandwidthBytesPerSecond), "bandwidth and peak must be positive");
        if (cache is { } c && (c.CapacityBytes <= 0 || c.BandwidthBytesPerSecond <= 0))
            throw new ArgumentOutOfRangeException(nameof(cache), "a cache tier needs a positive size and bandwidth");
        BandwidthBytesPerSecond = bandwidthBytesPerSecond;
        PeakFlopsPerSecond = peakFlopsPerSecond;
        _cache = cache;
        var dtype = model.KvCacheDtype;
        LayerAttention Of(Attention a) => new(a.Weights.Sum(w => w.StoredBytes), a.Weights.Sum(Elements),
            a.Shape.NumHeads, a.Shape.HeadDim, a.Shape.VHeadDim, LayerKvCache.BytesPerPosition(a.KeyWidth, a.ValueWidth, dtype), a.Window);
        _mainAttention = model.Layers.Select(l => Of(l.Attention)).ToArray();
        _mtpAttention = model.MtpLayers.Select(l => Of(l.Attention)).ToArray();
        foreach (var layer in model.Layers)
        {
            if (layer.FeedForward is MoeFeedForward moe)
            {
                _moeLayers++;
                _experts = moe.Router.Experts;
                _topK = moe.Router.TopK;
                _denseBytes += moe.Router.Gate.StoredBytes;
                _denseElements += Elements(moe.Router.Gate);
                var expertWeights = moe.Weights.Where(w => !ReferenceEquals(w, moe.Router.Gate)).ToArray();
                _expertBytes = expertWeights.Sum(w => w.StoredBytes) / _experts;
                _expertElements = expertWeights.Sum(Elements) / _experts;
            }
            else
            {
                _denseBytes += layer.FeedForward.Weights.Sum(w => w.StoredBytes);
                _denseElements += layer.FeedForward.Weights.Sum(Elements);
            }
        }
        _lmHeadBytes = model.LmHeadBytes;
        _lmHeadElements = (long)model.VocabSize * model.HiddenSize;
        _embedRowBytes = model.EmbeddingRowBytes;
        _mtpBytes = model.MtpLayers.Select(l => l.Weights.Sum(w => w.StoredBytes) - l.Attention.Weights.Sum(w => w.StoredBytes)).ToArray();
        _mtpElements = model.MtpLayers.Select(l => l.Weights.Sum(Elements) - l.Attention.Weights.Sum(Elements)).ToArray();
        _allWeightBytes = model.Layers.Sum(l => l.Attention.Weights.Sum(w => w.StoredBytes) + l.FeedForward.Weights.Sum(w => w.StoredBytes))
            + model.MtpLayers.Sum(l => l.Weights.Sum(w => w.StoredBytes)) + _lmHeadBytes;
    }

    private static long Elements(WeightMatrix w) => (long)w.Rows * w.Cols;

    /// <summary>Measures this machine's DRAM and last-level-cache bandwidth and FMA peak on the model's threads.</summary>
    public static DecodeRoofline Measure(MimoModel model) =>
        new(model, MemoryBandwidth.MeasureBytesPerSecond(model.Threads), ComputePeak.MeasureFlopsPerSecond(model.Threads), MeasureCache(model.Threads));

    /// <summary>The last-level cache as a tier (its size from the system, its bandwidth measured), or null where unknown.</summary>
    public static CacheTier? MeasureCache(int threads) =>
        CacheLevels.LastLevelBytes is > 0 and long bytes ? new CacheTier(bytes, MemoryBandwidth.MeasureCacheBytesPerSecond(threads, bytes)) : null;

    /// <summary>
    /// Bytes decoding <paramref name="batch"/> sequences at <paramref name="context"/> tokens touches step after step:
    /// every weight (all experts, every MTP block, lm_head) and every layer's visible KV of every sequence.
    /// </summary>
    public double WorkingSetBytes(int batch, int context) =>
        _allWeightBytes + batch * (_mainAttention.Sum(a => (double)a.KvBytesPerPosition * Visible(a, context))
            + _mtpAttention.Sum(a => (double)a.KvBytesPerPosition * Visible(a, context)));

    /// <summary>Share of a step's bytes the cache tier serves: min(1, capacity / working set); 0 without a tier.</summary>
    public double CacheHitFraction(int batch, int context) =>
        _cache is { } c ? Math.Min(1, c.CapacityBytes / WorkingSetBytes(batch, context)) : 0;

    /// <summary>The bandwidth a step's bytes come at: the cache's for the share it holds, DRAM's for the rest.</summary>
    public double BandwidthFor(int batch, int context)
    {
        double hit = CacheHitFraction(batch, context);
        return hit == 0 ? BandwidthBytesPerSecond : 1 / (hit / _cache!.Value.BandwidthBytesPerSecond + (1 - hit) / BandwidthBytesPerSecond);
    }

    private static readonly System.Collections.Concurrent.ConcurrentDictionary<int, double> Peaks = new();

    /// <summary>
    /// The roofline calibrated to a measured plain step (<paramref name="plainStepSeconds"/> for <paramref name="batch"/>
    /// sequences at <paramref name="context"/> tokens): its bandwidth is the one that makes the step's bytes take that
    /// long (what the engine reaches, caches included), its peak the FMA peak measured once per process and thread count
    /// in one short pass (~2 ms). Cheap enough for the adaptive speculation policy's prior; <see cref="Measure"/> is the
    /// machine's own figures.
    /// </summary>
    public static DecodeRoofline Calibrated(MimoModel model, int batch, int context, double plainStepSeconds)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(plainStepSeconds);
        double peak = Peaks.GetOrAdd(model.Threads, static threads => ComputePeak.MeasureFlopsPerSecond(threads, passes: 1));
        double bytes = new DecodeRoofline(model, 1, peak).MainPass(batch, 1, context).Bytes;
        return new DecodeRoofline(model, bytes / plainStepSeconds, peak);
    }

    /// <summary>Expected number of distinct experts n rows route to (top-k of E each, independent and uniform).</summary>
    public static double ExpectedExpertUnion(int experts, int topK, int rows) =>
        experts == 0 ? 0 : experts * (1 - Math.Pow(1 - (double)topK / experts, rows));

    /// <summary>
    /// The main model's pass over <paramref name="rowsPerSequence"/> rows of each of <paramref name="batch"/>
    /// sequences at <paramref name="context"/> tokens of context, with logits for every row.
    /// </summary>
    public Cost MainPass(int batch, int rowsPerSequence, int context)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(batch, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(rowsPerSequence, 1);
        int n = batch * rowsPerSequence;
        double experts = _moeLayers * ExpectedExpertUnion(_experts, _topK, n);
        double weightBytes = _denseBytes + _lmHeadBytes + n * (double)_embedRowBytes + experts * _expertBytes
            + _mainAttention.Sum(a => (double)a.WeightBytes);
        double flops = 2.0 * n * (_denseElements + _lmHeadElements + (double)_moeLayers * _topK * _expertElements
            + _mainAttention.Sum(a => (double)a.WeightElements));
        double kvBytes = 0;
        foreach (var a in _mainAttention)
        {
            int visible = Visible(a, context);
            kvBytes += batch * (double)a.KvBytesPerPosition * visible;
            flops += 2.0 * n * a.Heads * (a.KeyDim + a.ValueDim) * visible;
        }
        return Timed(weightBytes, kvBytes, flops, BandwidthFor(batch, context));
    }

    /// <summary>One MTP depth's draft pass: <paramref name="rowsPerSequence"/> caught-up rows per sequence, one row of logits each.</summary>
    public Cost DraftPass(int depth, int batch, int rowsPerSequence, int context)
    {
        var a = _mtpAttention[depth];
        int n = batch * rowsPerSequence, visible = Visible(a, context);
        double weightBytes = _mtpBytes[depth] + a.WeightBytes + _lmHeadBytes + n * (double)_embedRowBytes;
        double flops = 2.0 * n * (_mtpElements[depth] + a.WeightElements) + 2.0 * batch * _lmHeadElements
            + 2.0 * n * a.Heads * (a.KeyDim + a.ValueDim) * visible;
        return Timed(weightBytes, batch * (double)a.KvBytesPerPosition * visible, flops, BandwidthFor(batch, context));
    }

    /// <summary>
    /// A whole step with <paramref name="drafts"/> drafts per sequence (0 = plain decoding) at the given acceptance
    /// length (tokens per step per sequence; the draft passes catch up on that many rows).
    /// </summary>
    public Cost Step(int batch, int context, int drafts, double acceptanceLength)
    {
        var cost = MainPass(batch, drafts + 1, context);
        int caughtUp = Math.Max(1, (int)Math.Round(acceptanceLength));
        for (int d = 0; d < drafts; d++) cost += DraftPass(d, batch, caughtUp, context);
        return cost;
    }

    /// <summary>Tokens per second the roofline allows: batch × acceptance length per step.</summary>
    public double TokensPerSecond(int batch, int context, int drafts, double acceptanceLength) =>
        batch * (drafts == 0 ? 1 : acceptanceLength) / Step(batch, context, drafts, acceptanceLength).Seconds;

    /// <summary>Speed-up of <paramref name="drafts"/> drafts over plain decoding at the given acceptance length.</summary>
    public double Speedup(int batch, int context, int drafts, double acceptanceLength) =>
        TokensPerSecond(batch, context, drafts, acceptanceLength) / TokensPerSecond(batch, context, 0, 1);

    /// <summary>The acceptance length at which <paramref name="drafts"/> drafts break even with plain decoding.</summary>
    public double BreakEvenAcceptance(int batch, int context, int drafts)
    {
        // T(K) depends on the acceptance only through the draft passes' catch-up rows; solve by fixed point.
        double plain = Step(batch, context, 0, 1).Seconds, e = 1;
        for (int i = 0; i < 8; i++) e = Step(batch, context, drafts, e).Seconds / plain;
        return e;
    }

    private static int Visible(LayerAttention a, int context) => a.Window > 0 ? Math.Min(a.Window, context) : context;

    private Cost Timed(double weightBytes, double kvBytes, double flops, double bandwidth) =>
        new(weightBytes, kvBytes, flops, Math.Max((weightBytes + kvBytes) / bandwidth, flops / PeakFlopsPerSecond));
}

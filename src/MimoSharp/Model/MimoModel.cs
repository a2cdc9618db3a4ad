using System.Buffers;
using System.Text.RegularExpressions;
using MimoSharp.Checkpoints;
using MimoSharp.Config;
using MimoSharp.Inference;
using MimoSharp.Tensors;

namespace MimoSharp.Model;

/// <summary>How <see cref="MimoModel.Load(string, ModelLoadOptions)"/> prepares a model.</summary>
public sealed record ModelLoadOptions
{
    /// <summary>Quantise linear weights at load (e.g. <see cref="WeightFormat.Q8_0"/>); null keeps the stored format.</summary>
    public WeightFormat? Quantization { get; init; }

    /// <summary>
    /// Threads the model's kernels use, the calling thread included; null follows the process-wide default,
    /// <see cref="ComputePool.Threads"/> (every core unless set).
    /// </summary>
    public int? Threads { get; init; }

    /// <summary>How the sequences' KV caches store keys and values (see <see cref="MimoModel.KvCacheDtype"/>).</summary>
    public KvCacheDtype KvCache { get; init; } = KvCacheDtype.F32;
}

/// <summary>
/// The MiMo-V2-Flash network (spec §2, §6, §7): token embedding, the hybrid stack of
/// sliding-window and global decoder layers, final norm, untied lm_head, and the MTP layers
/// (counted from tensor names). Weights stay memory-mapped in their stored format.
/// </summary>
public sealed partial class MimoModel : IDisposable
{
    private readonly Checkpoint _checkpoint;
    private readonly WeightMatrix _embed;
    private readonly RmsNorm _norm;
    private readonly WeightMatrix _lmHead;

    public MimoConfig Config { get; }
    public IReadOnlyList<DecoderLayer> Layers { get; }
    public IReadOnlyList<MtpLayer> MtpLayers { get; }
    public Checkpoint Checkpoint => _checkpoint;
    public int VocabSize => Config.VocabSize;
    public int HiddenSize => Config.HiddenSize;

    /// <summary>The format linear weights were quantised to at load, or null when they are used as stored.</summary>
    public WeightFormat? Quantization { get; }

    /// <summary>Threads this model computes on (the <see cref="ModelLoadOptions.Threads"/> it was loaded with, else the process default).</summary>
    public int Threads => _threads ?? ComputePool.Threads;

    private readonly int? _threads;

    private MimoModel(Checkpoint checkpoint, ModelLoadOptions options)
    {
        _checkpoint = checkpoint;
        Config = checkpoint.Config;
        Quantization = options.Quantization;
        _threads = options.Threads;
        KvCacheDtype = options.KvCache;
        using var threads = ComputePool.UseThreads(_threads);
        var w = new WeightLoader(checkpoint, options.Quantization);
        CheckLayerCount(checkpoint);
        CheckEmbeddingShape(checkpoint);
        int v = Config.VocabSize, h = Config.HiddenSize;
        _embed = w.Matrix("model.embed_tokens.weight", v, h, quantizable: false);
        Layers = Enumerable.Range(0, Config.NumHiddenLayers).Select(i => new DecoderLayer(w, i)).ToArray();
        _norm = new RmsNorm(w.Vector("model.norm.weight", h), (float)Config.RmsNormEps);
        _lmHead = w.Matrix("lm_head.weight", v, h);
        MtpLayers = Enumerable.Range(0, CountMtpLayers(checkpoint)).Select(k => new MtpLayer(w, k)).ToArray();
    }

    /// <param name="directory">A model folder, or a mimo2 GGUF file.</param>
    /// <param name="quantization">Quantise linear weights at load (e.g. <see cref="WeightFormat.Q8_0"/>); null keeps the stored format.</param>
    public static MimoModel Load(string directory, WeightFormat? quantization = null) =>
        Load(directory, new ModelLoadOptions { Quantization = quantization });

    /// <param name="directory">A model folder, or a mimo2 GGUF file.</param>
    public static MimoModel Load(string directory, ModelLoadOptions options)
    {
        CheckOptions(options);
        return Load(GgufCheckpoint.IsGgufPath(directory) ? GgufCheckpoint.Open(directory) : Checkpoint.Open(directory), options);
    }

    public static MimoModel Load(Checkpoint checkpoint, WeightFormat? quantization = null) =>
        Load(checkpoint, new ModelLoadOptions { Quantization = quantization });

    public static MimoModel Load(Checkpoint checkpoint, ModelLoadOptions options)
    {
        try
        {
            CheckOptions(options);
            return new MimoModel(checkpoint, options);
        }
        catch
        {
            checkpoint.Dispose();
            throw;
        }
    }

    private static void CheckOptions(ModelLoadOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (options.Threads is < 1)
            throw new ArgumentOutOfRangeException(nameof(options), $"{nameof(ModelLoadOptions.Threads)} must be ≥ 1, got {options.Threads}");
    }

    [GeneratedRegex(@"^model\.layers\.(\d+)\.")]
    private static partial Regex LayerName();

    [GeneratedRegex(@"^model\.mtp\.layers\.(\d+)\.")]
    private static partial Regex MtpLayerName();

    private static void CheckLayerCount(Checkpoint c)
    {
        foreach (var name in c.TensorNames)
        {
            var m = LayerName().Match(name);
            if (m.Success && int.Parse(m.Groups[1].Value) >= c.Config.NumHiddenLayers)
                throw new MimoConfigException("config.json", "num_hidden_layers",
                    $"num_hidden_layers is {c.Config.NumHiddenLayers} but the checkpoint has tensor {name}");
        }
    }

    /// <summary>The token embedding is [vocab_size, hidden_size]: a config that disagrees with it is named by its key.</summary>
    private static void CheckEmbeddingShape(Checkpoint c)
    {
        if (c.TryGet("model.embed_tokens.weight") is not { Shape: [long rows, long cols] } t) return;
        foreach (var (key, value, actual) in new[] { ("vocab_size", c.Config.VocabSize, rows), ("hidden_size", c.Config.HiddenSize, cols) })
            if (value != actual)
                throw new MimoConfigException("config.json", key,
                    $"{key} is {value}, but tensor model.embed_tokens.weight in {t.File} has shape {t.ShapeText} ([vocab_size, hidden_size])");
    }

    /// <summary>There is no config key for the MTP depth count: it is the number of distinct k in model.mtp.layers.{k}.*.</summary>
    public static int CountMtpLayers(Checkpoint c)
    {
        var depths = new SortedSet<int>();
        foreach (var name in c.TensorNames)
        {
            var m = MtpLayerName().Match(name);
            if (m.Success) depths.Add(int.Parse(m.Groups[1].Value));
        }
        for (int k = 0; k < depths.Count; k++)
            if (!depths.Contains(k))
                throw new CheckpointException($"{c.Directory}: MTP layers must be numbered 0..K-1, but model.mtp.layers.{k} is missing (found {string.Join(", ", depths)})");
        return depths.Count;
    }

    /// <summary>
    /// How caches created from now on store keys and values (<c>--kv-cache</c>): float32 keeps the computed values
    /// exactly; 16-bit halves the bytes attention reads at long context.
    /// </summary>
    public KvCacheDtype KvCacheDtype { get; set; } = KvCacheDtype.F32;

    /// <summary>Fresh caches for one sequence; <paramref name="lookahead"/> extra ring slots let speculative steps roll back.</summary>
    public SequenceCaches CreateCaches(int lookahead = 0) => new(
        Layers.Select(l => l.Attention.CreateCache(lookahead, KvCacheDtype)).ToArray(),
        MtpLayers.Select(l => l.Attention.CreateCache(2 * lookahead + 2, KvCacheDtype)).ToArray());

    public void Embed(ReadOnlySpan<int> tokens, Span<float> h)
    {
        int d = HiddenSize;
        for (int t = 0; t < tokens.Length; t++)
        {
            int id = tokens[t];
            if ((uint)id >= (uint)VocabSize)
                throw new ArgumentOutOfRangeException(nameof(tokens), $"token id {id} is out of range: vocab_size is {VocabSize}");
            var row = _embed.Row(id, h.Slice(t * d, d));
            if (_embed.Format == WeightFormat.F32) row.CopyTo(h.Slice(t * d, d));
        }
    }

    /// <summary>
    /// Runs the decoder stack over the rows of <paramref name="layout"/> and writes the pre-norm hidden
    /// state [N, H] to <paramref name="hidden"/>. Each segment s continues the sequence cached in caches[s].
    /// <paramref name="routing"/>, when given, receives the experts every MoE layer chose for every row.
    /// </summary>
    public void Forward(ReadOnlySpan<int> tokens, BatchLayout layout, IReadOnlyList<SequenceCaches> caches, Span<float> hidden,
        RecordedRouting? routing = null)
    {
        if (tokens.Length != layout.RowCount) throw new ArgumentException("one token per row is needed");
        routing?.CheckRows(layout.RowCount);
        if (caches.Count != layout.Segments.Length) throw new ArgumentException("one cache set per segment is needed");
        foreach (var p in layout.Positions)
            if (p >= Config.MaxPositionEmbeddings)
                throw new ArgumentOutOfRangeException(nameof(layout),
                    $"position {p} is beyond max_position_embeddings ({Config.MaxPositionEmbeddings})");
        using var threads = ComputePool.UseThreads(_threads);
        Embed(tokens, hidden);
        // Pooled, not new: a decode step allocates nothing (the pool hands the array back to this thread next step).
        var layerCaches = ArrayPool<LayerKvCache>.Shared.Rent(caches.Count);
        try
        {
            for (int i = 0; i < Layers.Count; i++)
            {
                var layer = Layers[i];
                for (int s = 0; s < caches.Count; s++) layerCaches[s] = caches[s].Main[layer.Index];
                layer.Forward(hidden, layout, layerCaches.AsSpan(0, caches.Count), routing);
            }
        }
        finally
        {
            ArrayPool<LayerKvCache>.Shared.Return(layerCaches, clearArray: true);
        }
    }

    /// <summary>logits = RMSNorm(h; norm) · lm_headᵀ for n rows; the MTP heads pass their own final norm.</summary>
    public void Logits(ReadOnlySpan<float> hidden, int n, Span<float> logits, RmsNorm? norm = null)
    {
        using var threads = ComputePool.UseThreads(_threads);
        int d = HiddenSize;
        float[] xn = ArrayPool<float>.Shared.Rent(n * d);
        try
        {
            (norm ?? _norm).ApplyRows(hidden, xn, n);
            MatMul.Compute(_lmHead, xn, n, logits);
        }
        finally
        {
            ArrayPool<float>.Shared.Return(xn);
        }
    }

    /// <summary>
    /// MTP depth <paramref name="depth"/> over rows that fuse tokens with main hidden states; writes the block
    /// output (pre final norm) to <paramref name="output"/>. Positions are those of the hidden states.
    /// </summary>
    public void MtpForward(int depth, ReadOnlySpan<int> tokens, ReadOnlySpan<float> mainHidden, BatchLayout layout,
        IReadOnlyList<SequenceCaches> caches, Span<float> output)
    {
        using var threads = ComputePool.UseThreads(_threads);
        int n = layout.RowCount, d = HiddenSize;
        float[] e = ArrayPool<float>.Shared.Rent(n * d);
        var mtpCaches = ArrayPool<LayerKvCache>.Shared.Rent(caches.Count);
        try
        {
            Embed(tokens, e);
            for (int s = 0; s < caches.Count; s++) mtpCaches[s] = caches[s].Mtp[depth];
            MtpLayers[depth].Forward(e, mainHidden, output, layout, mtpCaches.AsSpan(0, caches.Count));
        }
        finally
        {
            ArrayPool<float>.Shared.Return(e);
            ArrayPool<LayerKvCache>.Shared.Return(mtpCaches, clearArray: true);
        }
    }

    public void MtpLogits(int depth, ReadOnlySpan<float> mtpHidden, int n, Span<float> logits) =>
        Logits(mtpHidden, n, logits, MtpLayers[depth].FinalNorm);

    /// <summary>
    /// Weight bytes one decoded token reads: its embedding row, every layer's attention weights, the dense
    /// FFNs, the router and the chosen experts of each MoE layer, and lm_head. Decoding is memory-bound, so
    /// this over the memory bandwidth is the speed limit.
    /// </summary>
    public long ActiveWeightBytesPerToken()
    {
        long bytes = EmbeddingRowBytes + LmHeadBytes;
        foreach (var layer in Layers)
            bytes += layer.Attention.Weights.Sum(w => w.StoredBytes) + layer.FeedForward.ActiveBytesPerToken;
        return bytes;
    }

    /// <summary>Weight bytes one MTP depth reads per draft (its block and lm_head).</summary>
    public long MtpWeightBytesPerDraft(int depth) =>
        MtpLayers[depth].Weights.Sum(w => w.StoredBytes) + LmHeadBytes;

    /// <summary>Bytes of lm_head, which every row that needs logits multiplies.</summary>
    public long LmHeadBytes => _lmHead.StoredBytes;

    /// <summary>Bytes of one token's embedding row.</summary>
    public long EmbeddingRowBytes => _embed.StoredBytes / Math.Max(1, _embed.Rows);

    public void Dispose() => _checkpoint.Dispose();
}

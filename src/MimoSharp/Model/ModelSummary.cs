using MimoSharp.Checkpoints;
using MimoSharp.Inference;

namespace MimoSharp.Model;

/// <summary>Sizes a user asks about before running a checkpoint: parameters, active parameters, KV-cache cost.</summary>
public sealed record ModelSummary
{
    public long TotalParameters { get; init; }
    public long MainParameters { get; init; }
    public long ActiveParametersPerToken { get; init; }
    public long MtpParameters { get; init; }
    public int MtpLayers { get; init; }
    public int GlobalLayers { get; init; }
    public int SlidingWindowLayers { get; init; }
    public int MoeLayers { get; init; }
    public IReadOnlyDictionary<string, long> ParametersByDType { get; init; } = new Dictionary<string, long>();

    /// <summary>Each attention layer's K/V FP8 scale layout, by layer prefix (main layers, then MTP layers).</summary>
    public IReadOnlyDictionary<string, Fp8ScaleLayout> KeyValueScaleLayouts { get; init; } = new Dictionary<string, Fp8ScaleLayout>();

    /// <summary>How the KV cache stores keys and values (the model's <see cref="MimoModel.KvCacheDtype"/>); the byte counts below are for it.</summary>
    public KvCacheDtype KvCacheDtype { get; init; }

    /// <summary>KV-cache bytes each token of context adds (global layers).</summary>
    public long KvBytesPerToken { get; init; }

    /// <summary>Fixed KV-cache bytes of the sliding-window layers (window positions, independent of context).</summary>
    public long SlidingWindowKvBytes { get; init; }

    public long KvBytesFor(long contextTokens) => KvBytesPerToken * contextTokens + SlidingWindowKvBytes;

    public static ModelSummary Of(MimoModel model)
    {
        var cfg = model.Config;
        var ck = model.Checkpoint;
        long total = 0, mtp = 0, expertParams = 0;
        var byType = new SortedDictionary<string, long>(StringComparer.Ordinal);
        foreach (var name in ck.TensorNames)
        {
            if (name.EndsWith("_scale_inv", StringComparison.Ordinal)) continue;
            var t = ck.TryGet(name)!;
            long count = t.ElementCount;
            total += count;
            byType[t.DType.ToString()] = byType.GetValueOrDefault(t.DType.ToString()) + count;
            if (name.StartsWith("model.mtp.", StringComparison.Ordinal)) mtp += count;
            else if (name.Contains(".mlp.experts.", StringComparison.Ordinal)) expertParams += count;
        }
        int moeLayers = cfg.IsMoeLayer.Count(x => x);
        long perExpert = moeLayers > 0 && cfg.NRoutedExperts > 0 ? expertParams / moeLayers / cfg.NRoutedExperts : 0;
        long main = total - mtp;
        long inactive = (long)moeLayers * (cfg.NRoutedExperts - cfg.NumExpertsPerTok) * perExpert;
        long kvGlobal = 0, kvSwa = 0;
        long PerToken(Attention a) => LayerKvCache.BytesPerPosition(a.KeyWidth, a.ValueWidth, model.KvCacheDtype);
        foreach (var layer in model.Layers)
        {
            if (layer.IsSlidingWindow) kvSwa += PerToken(layer.Attention) * layer.Attention.Window;
            else kvGlobal += PerToken(layer.Attention);
        }
        foreach (var layer in model.MtpLayers)
            kvSwa += PerToken(layer.Attention) * layer.Attention.Window;
        var layouts = new Dictionary<string, Fp8ScaleLayout>(StringComparer.Ordinal);
        for (int i = 0; i < model.Layers.Count; i++) layouts[$"model.layers.{i}"] = model.Layers[i].Attention.KeyValueScaleLayout;
        for (int k = 0; k < model.MtpLayers.Count; k++) layouts[$"model.mtp.layers.{k}"] = model.MtpLayers[k].Attention.KeyValueScaleLayout;
        return new ModelSummary
        {
            KeyValueScaleLayouts = layouts,
            TotalParameters = total,
            MainParameters = main,
            ActiveParametersPerToken = main - inactive,
            MtpParameters = mtp,
            MtpLayers = model.MtpLayers.Count,
            GlobalLayers = cfg.IsSlidingWindowLayer.Count(x => !x),
            SlidingWindowLayers = cfg.IsSlidingWindowLayer.Count(x => x),
            MoeLayers = moeLayers,
            ParametersByDType = byType,
            KvCacheDtype = model.KvCacheDtype,
            KvBytesPerToken = kvGlobal,
            SlidingWindowKvBytes = kvSwa,
        };
    }
}

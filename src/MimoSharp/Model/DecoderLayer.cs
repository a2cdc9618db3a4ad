using System.Buffers;
using MimoSharp.Inference;
using MimoSharp.Tensors;

namespace MimoSharp.Model;

/// <summary>One main decoder block (spec §2): h += Attn(norm(h)); h += FFN(norm(h)).</summary>
public sealed class DecoderLayer
{
    private readonly RmsNorm _inputNorm, _postAttentionNorm;

    public int Index { get; }
    public Attention Attention { get; }
    public IFeedForward FeedForward { get; }
    public bool IsSlidingWindow => Attention.Window > 0;

    internal DecoderLayer(WeightLoader w, int index)
    {
        var cfg = w.Config;
        Index = index;
        string p = $"model.layers.{index}.";
        float eps = (float)cfg.RmsNormEps;
        _inputNorm = new RmsNorm(w.Vector(p + "input_layernorm.weight", cfg.HiddenSize), eps);
        _postAttentionNorm = new RmsNorm(w.Vector(p + "post_attention_layernorm.weight", cfg.HiddenSize), eps);
        bool swa = cfg.IsSlidingWindowLayer[index];
        Attention = new Attention(w, p + "self_attn.", swa ? cfg.Swa : cfg.Global, swa ? cfg.SlidingWindow : 0);

        bool hasRouter = w.Has(p + "mlp.gate.weight");
        if (cfg.IsMoeLayer[index] != hasRouter)
            throw new Config.MimoConfigException("config.json", "moe_layer_freq",
                $"moe_layer_freq[{index}] = {(cfg.IsMoeLayer[index] ? 1 : 0)} but the checkpoint {(hasRouter ? "has" : "lacks")} tensor {p}mlp.gate.weight");
        FeedForward = cfg.IsMoeLayer[index]
            ? new MoeFeedForward(w, p + "mlp.", cfg)
            : new SwiGlu(w, p + "mlp.", cfg.HiddenSize, cfg.IntermediateSize);
    }

    /// <param name="routing">When given, receives the experts this layer's MoE chose for every row (routing replay).</param>
    public void Forward(Span<float> h, BatchLayout layout, ReadOnlySpan<LayerKvCache> caches, RecordedRouting? routing = null)
    {
        int n = layout.RowCount, d = _inputNorm.Size;
        var pool = ArrayPool<float>.Shared;
        float[] xn = pool.Rent(n * d), delta = pool.Rent(n * d);
        try
        {
            _inputNorm.ApplyRows(h, xn, n);
            Attention.Forward(xn, delta, layout, caches);
            VectorMath.Add(delta.AsSpan(0, n * d), h[..(n * d)]);
            _postAttentionNorm.ApplyRows(h, xn, n);
            if (routing is not null && FeedForward is MoeFeedForward moe) moe.Forward(xn, delta, n, routing.OfLayer(Index));
            else FeedForward.Forward(xn, delta, n);
            VectorMath.Add(delta.AsSpan(0, n * d), h[..(n * d)]);
        }
        finally
        {
            pool.Return(xn);
            pool.Return(delta);
        }
    }
}

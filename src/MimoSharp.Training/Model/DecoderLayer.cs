using MimoSharp.Config;
using MimoSharp.Model;
using static TorchSharp.torch;

namespace MimoSharp.Training.Model;

/// <summary>One main layer (spec §2): h += Attn(RMSNorm(h)); h += FFN(RMSNorm(h)); FFN is MoE or dense SwiGLU.</summary>
public sealed class DecoderLayer : nn.Module<Tensor, Tensor>
{
    private readonly RmsNorm _inputNorm, _postAttentionNorm;
    private readonly nn.Module<Tensor, Tensor> _mlp;

    public int Index { get; }
    public bool IsSlidingWindow { get; }
    public Attention Attention { get; }

    /// <summary>The layer's MoE FFN, or null for a dense layer.</summary>
    public MoeFeedForward? Moe { get; }

    public DecoderLayer(MimoConfig config, int index) : base(nameof(DecoderLayer))
    {
        Index = index;
        IsSlidingWindow = config.IsSlidingWindowLayer[index];
        double eps = config.RmsNormEps;
        _inputNorm = new RmsNorm(config.HiddenSize, eps);
        Attention = new Attention(config, IsSlidingWindow ? config.Swa : config.Global, IsSlidingWindow);
        _postAttentionNorm = new RmsNorm(config.HiddenSize, eps);
        if (config.IsMoeLayer[index]) _mlp = Moe = new MoeFeedForward(config);
        else _mlp = new SwiGlu(config.HiddenSize, config.IntermediateSize);
        register_module("input_layernorm", _inputNorm);
        register_module("self_attn", Attention);
        register_module("post_attention_layernorm", _postAttentionNorm);
        register_module("mlp", _mlp);
    }

    public override Tensor forward(Tensor h) => Forward(h, null, null);

    /// <param name="replay">Routing replay (R3): the experts this layer's MoE must use; null lets its router choose.</param>
    /// <param name="record">When given, receives the experts this layer's MoE used.</param>
    public Tensor Forward(Tensor h, RecordedRouting? replay, RecordedRouting? record)
    {
        using var scope = NewDisposeScope();
        h = AttentionResidual(h);
        var x = _postAttentionNorm.forward(h);
        h = h + (Moe is null ? _mlp.forward(x) : Moe.Forward(x, replay?.OfLayer(Index), record?.OfLayer(Index)));
        return h.MoveToOuterDisposeScope();
    }

    /// <summary>h + Attn(RMSNorm(h; input_layernorm)).</summary>
    internal Tensor AttentionResidual(Tensor h)
    {
        using var normed = _inputNorm.forward(h);
        using var attended = Attention.forward(normed);
        return h + attended;
    }

    /// <summary>The FFN's input: RMSNorm(h; post_attention_layernorm).</summary>
    internal Tensor PostAttentionNorm(Tensor h) => _postAttentionNorm.forward(h);
}

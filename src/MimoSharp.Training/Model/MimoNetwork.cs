using MimoSharp.Config;
using MimoSharp.Model;
using static TorchSharp.torch;

namespace MimoSharp.Training.Model;

/// <summary>
/// The trainable MiMo-V2-Flash network, module for module the engine's (spec §2, §6, §7). Parameter names are the
/// checkpoint's tensor names (model.layers.{i}.self_attn.q_proj.weight, model.mtp.layers.{k}.eh_proj.weight, …),
/// so saving and loading is a name-for-name copy.
/// </summary>
public sealed class MimoNetwork : nn.Module
{
    private readonly Embedding _embed;
    private readonly RmsNorm _norm;
    private readonly Linear _lmHead;

    public MimoConfig Config { get; }
    public IReadOnlyList<DecoderLayer> Layers { get; }
    public IReadOnlyList<MtpLayer> MtpLayers { get; }

    /// <summary>The MoE FFNs of the main layers, in layer order (for balancing and load statistics).</summary>
    public IReadOnlyList<(int Layer, MoeFeedForward Moe)> MoeLayers { get; }

    public MimoNetwork(MimoConfig config, int mtpLayers) : base(nameof(MimoNetwork))
    {
        Config = config;
        _embed = new Embedding(config.VocabSize, config.HiddenSize);
        Layers = Enumerable.Range(0, config.NumHiddenLayers).Select(i => new DecoderLayer(config, i)).ToArray();
        _norm = new RmsNorm(config.HiddenSize, config.RmsNormEps);
        MtpLayers = Enumerable.Range(0, mtpLayers).Select(k => new MtpLayer(config, k)).ToArray();
        _lmHead = new Linear(config.HiddenSize, config.VocabSize);
        MoeLayers = Layers.Where(l => l.Moe is not null).Select(l => (l.Index, l.Moe!)).ToArray();

        var mtp = new Container("mtp");
        mtp.Add("layers", nn.ModuleList(MtpLayers.Cast<nn.Module>().ToArray()));
        var model = new Container("model");
        model.Add("embed_tokens", _embed);
        model.Add("layers", nn.ModuleList(Layers.Cast<nn.Module>().ToArray()));
        model.Add("norm", _norm);
        model.Add("mtp", mtp);
        register_module("model", model);
        register_module("lm_head", _lmHead);
    }

    /// <summary>tokens [B, T] (int64) → the main model's pre-norm hidden state [B, T, H] at positions 0..T-1.</summary>
    /// <param name="replay">Routing replay (R3): the experts every MoE layer must use, rows in the order of the flattened
    /// [B, T] input (as the inference engine recorded them); null lets the routers choose.</param>
    /// <param name="record">When given, receives the experts every MoE layer used.</param>
    public Tensor Hidden(Tensor tokens, RecordedRouting? replay = null, RecordedRouting? record = null)
    {
        int rows = (int)tokens.numel();
        replay?.CheckRows(rows);
        record?.CheckRows(rows);
        using var scope = NewDisposeScope();
        var h = Embed(tokens);
        foreach (var layer in Layers) h = layer.Forward(h, replay, record);
        return h.MoveToOuterDisposeScope();
    }

    /// <summary>Number of trainable values.</summary>
    public long ParameterCount => parameters().Sum(p => p.numel());

    /// <summary>Embed[tokens]: [B, T] → [B, T, H].</summary>
    internal Tensor Embed(Tensor tokens) => _embed.forward(tokens);

    /// <summary>logits = RMSNorm(h; model.norm) · lm_headᵀ.</summary>
    public Tensor Logits(Tensor hidden)
    {
        using var normed = _norm.forward(hidden);
        return _lmHead.forward(normed);
    }

    /// <summary>
    /// Teacher-forced MTP depth k (spec §7) over rows i = 0..rows-1: fuses h_i with Embed[t_{i+k+1}], position i,
    /// and returns logits [B, rows, V] that predict t_{i+k+2}. rows defaults to T-k-1 (every row the spec defines).
    /// </summary>
    public Tensor MtpLogits(int depth, Tensor tokens, Tensor hidden, int? rows = null)
    {
        using var scope = NewDisposeScope();
        long t = tokens.shape[1];
        long n = rows ?? t - depth - 1;
        var embedded = _embed.forward(tokens.narrow(1, depth + 1, n));
        var x = MtpLayers[depth].forward(embedded, hidden.narrow(1, 0, n));
        return _lmHead.forward(MtpLayers[depth].FinalNorm.forward(x)).MoveToOuterDisposeScope();
    }

    /// <summary>Weight initialisation for training from scratch: N(0, initializer_range) matrices (output projections
    /// scaled by 1/√(2L)), unit norms, zero sinks and zero correction biases. Deterministic given torch's seed.</summary>
    public void InitializeWeights(double std)
    {
        using var _ = no_grad();
        double outputStd = std / Math.Sqrt(2.0 * Config.NumHiddenLayers);
        foreach (var (name, p) in named_parameters())
        {
            if (name.EndsWith("layernorm.weight") || name.EndsWith("norm.weight")) p.fill_(1.0);
            else if (name.EndsWith("attention_sink_bias")) p.zero_();
            else if (name.EndsWith("o_proj.weight") || name.EndsWith("down_proj.weight")) p.normal_(0, outputStd);
            else p.normal_(0, std);
        }
        foreach (var (_, b) in named_buffers()) b.zero_();
    }

    /// <summary>A named group of submodules (gives the checkpoint's dotted prefixes).</summary>
    private sealed class Container(string name) : nn.Module(name)
    {
        public void Add(string child, nn.Module module) => register_module(child, module);
    }
}

/// <summary>Token embedding table [V, H] (no scaling, spec §2).</summary>
public sealed class Embedding : nn.Module<Tensor, Tensor>
{
    public Parameter Weight { get; }
    private readonly int _vocab;

    public Embedding(int vocab, int hidden) : base(nameof(Embedding))
    {
        _vocab = vocab;
        Weight = new Parameter(zeros(vocab, hidden));
        register_parameter("weight", Weight);
    }

    public override Tensor forward(Tensor tokens)
    {
        using var flat = tokens.reshape(-1);
        using var rows = Weight.index_select(0, flat);
        var shape = tokens.shape.Append(Weight.shape[1]).ToArray();
        return rows.view(shape);
    }
}

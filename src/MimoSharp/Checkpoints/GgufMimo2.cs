using System.Text.RegularExpressions;

namespace MimoSharp.Checkpoints;

/// <summary>
/// llama.cpp's <c>mimo2</c> architecture: its metadata keys and tensor names, and how they correspond to the
/// Hub checkpoint (llama.cpp src/models/mimo2.cpp, src/llama-arch.cpp; converter conversion/mimo.py).
/// The MTP layers are stored the way llama.cpp's converter stores them: as extra blocks after the main
/// layers (blk.{L+k} for MTP layer k), with <c>mimo2.nextn_predict_layers</c> = K and every per-layer
/// array extended to L+K entries (the MTP blocks are sliding-window blocks).
/// </summary>
public static partial class GgufMimo2
{
    public const string Architecture = "mimo2";

    public static string Key(string name) => Architecture + "." + name;

    /// <summary>How the exporter writes a tensor.</summary>
    public enum Kind
    {
        /// <summary>A 1-D tensor (norm weights, sinks, the router bias), always F32.</summary>
        Vector,

        /// <summary>A linear weight: the requested type, block-quantised where asked.</summary>
        Matrix,

        /// <summary>A matrix read by lookup or used for decisions (token embedding, router): never block-quantised.</summary>
        FloatMatrix,

        /// <summary>The routed experts' matrices, one per expert in the Hub (<c>mlp.experts.{e}.…</c>), stacked [E, rows, cols] in GGUF.</summary>
        Experts,
    }

    /// <summary>Which blocks hold a per-block tensor.</summary>
    [Flags]
    public enum Blocks
    {
        DenseLayers = 1,
        MoeLayers = 2,
        Mtp = 4,
        MainLayers = DenseLayers | MoeLayers,
        DenseFeedForward = DenseLayers | Mtp,
        All = MainLayers | Mtp,
    }

    /// <summary>A Hub tensor and its llama.cpp name; per-block names are suffixes of model.layers.{i}. / model.mtp.layers.{k}. and blk.{n}.</summary>
    public sealed record TensorName(string Hub, string Gguf, Kind Kind, Blocks In = Blocks.All, bool Optional = false)
    {
        /// <summary>The Hub suffix of expert <paramref name="e"/> (for <see cref="Kind.Experts"/>).</summary>
        public string OfExpert(int e) => Hub.Replace("{e}", e.ToString(System.Globalization.CultureInfo.InvariantCulture));
    }

    /// <summary>The tensors outside the blocks, in the order the exporter writes them.</summary>
    public static IReadOnlyList<TensorName> GlobalNames { get; } =
    [
        new("model.embed_tokens.weight", "token_embd.weight", Kind.FloatMatrix),
        new("model.norm.weight", "output_norm.weight", Kind.Vector),
        new("lm_head.weight", "output.weight", Kind.Matrix),
    ];

    /// <summary>
    /// Per-block tensors of main and MTP layers, in the order the exporter writes them. For experts the Hub name holds
    /// <c>{e}</c> for the expert index. The MTP head norm is written as nextn.shared_head_norm; layer_output_norm is read too.
    /// </summary>
    public static IReadOnlyList<TensorName> BlockNames { get; } =
    [
        new("input_layernorm.weight", "attn_norm.weight", Kind.Vector),
        new("post_attention_layernorm.weight", "ffn_norm.weight", Kind.Vector, Blocks.MainLayers),
        new("pre_mlp_layernorm.weight", "ffn_norm.weight", Kind.Vector, Blocks.Mtp),
        new("self_attn.q_proj.weight", "attn_q.weight", Kind.Matrix),
        new("self_attn.k_proj.weight", "attn_k.weight", Kind.Matrix),
        new("self_attn.v_proj.weight", "attn_v.weight", Kind.Matrix),
        new("self_attn.o_proj.weight", "attn_output.weight", Kind.Matrix),
        new("self_attn.attention_sink_bias", "attn_sinks.weight", Kind.Vector, Optional: true),
        new("mlp.gate.weight", "ffn_gate_inp.weight", Kind.FloatMatrix, Blocks.MoeLayers),
        new("mlp.gate.e_score_correction_bias", "exp_probs_b.bias", Kind.Vector, Blocks.MoeLayers),
        new("mlp.experts.{e}.gate_proj.weight", "ffn_gate_exps.weight", Kind.Experts, Blocks.MoeLayers),
        new("mlp.experts.{e}.up_proj.weight", "ffn_up_exps.weight", Kind.Experts, Blocks.MoeLayers),
        new("mlp.experts.{e}.down_proj.weight", "ffn_down_exps.weight", Kind.Experts, Blocks.MoeLayers),
        new("mlp.gate_proj.weight", "ffn_gate.weight", Kind.Matrix, Blocks.DenseFeedForward),
        new("mlp.up_proj.weight", "ffn_up.weight", Kind.Matrix, Blocks.DenseFeedForward),
        new("mlp.down_proj.weight", "ffn_down.weight", Kind.Matrix, Blocks.DenseFeedForward),
        new("enorm.weight", "nextn.enorm.weight", Kind.Vector, Blocks.Mtp),
        new("hnorm.weight", "nextn.hnorm.weight", Kind.Vector, Blocks.Mtp),
        new("eh_proj.weight", "nextn.eh_proj.weight", Kind.Matrix, Blocks.Mtp),
        new("final_layernorm.weight", "nextn.shared_head_norm.weight", Kind.Vector, Blocks.Mtp),
    ];

    /// <summary>Fused q|k|v rows (MiMo-V2.5 checkpoints and some converted files); split on load.</summary>
    public const string FusedQkv = "attn_qkv.weight";

    /// <summary>Other spelling of the MTP head norm that llama.cpp accepts.</summary>
    public const string LayerOutputNorm = "layer_output_norm.weight";

    /// <summary>blk.{block}.{GGUF name} of the per-block tensor with Hub suffix <paramref name="hubSuffix"/>.</summary>
    public static string Block(int block, string hubSuffix) =>
        $"blk.{block}.{BlockNames.FirstOrDefault(n => n.Hub == hubSuffix)?.Gguf ?? throw new ArgumentException($"no GGUF name for {hubSuffix}", nameof(hubSuffix))}";

    /// <summary>The stacked-experts entry with GGUF suffix <paramref name="ggufSuffix"/> (ffn_gate_exps.weight), or null.</summary>
    public static TensorName? Experts(string ggufSuffix) => BlockNames.FirstOrDefault(n => n.Kind == Kind.Experts && n.Gguf == ggufSuffix);

    /// <summary>The blocks a main or MTP block belongs to.</summary>
    private static Blocks Of(bool mtp) => mtp ? Blocks.Mtp : Blocks.MainLayers;

    [GeneratedRegex(@"^model\.layers\.(\d+)\.(.+)$")]
    private static partial Regex HubLayer();

    [GeneratedRegex(@"^model\.mtp\.layers\.(\d+)\.(.+)$")]
    private static partial Regex HubMtp();

    [GeneratedRegex(@"^blk\.(\d+)\.(.+)$")]
    private static partial Regex GgufBlock();

    /// <summary>The GGUF name of a (non-expert) Hub tensor, or null when it has none.</summary>
    public static string? ToGguf(string hub, int mainLayers)
    {
        foreach (var n in GlobalNames)
            if (n.Hub == hub) return n.Gguf;
        var m = HubLayer().Match(hub);
        if (m.Success) return Find(m.Groups[2].Value, int.Parse(m.Groups[1].Value), mtp: false);
        m = HubMtp().Match(hub);
        if (m.Success) return Find(m.Groups[2].Value, mainLayers + int.Parse(m.Groups[1].Value), mtp: true);
        return null;

        static string? Find(string suffix, int block, bool mtp)
        {
            foreach (var n in BlockNames)
                if (n.Kind != Kind.Experts && (n.In & Of(mtp)) != 0 && n.Hub == suffix) return $"blk.{block}.{n.Gguf}";
            return null;
        }
    }

    /// <summary>
    /// The Hub name of a (non-expert, non-fused) GGUF tensor, or null when it has none. Blocks from
    /// <paramref name="mainLayers"/> on are MTP layers.
    /// </summary>
    public static string? ToHub(string gguf, int mainLayers)
    {
        foreach (var n in GlobalNames)
            if (n.Gguf == gguf) return n.Hub;
        if (!TryBlock(gguf, out int block, out string suffix)) return null;
        bool mtp = block >= mainLayers;
        string prefix = HubPrefix(block, mainLayers);
        if (mtp && suffix == LayerOutputNorm) return prefix + "final_layernorm.weight";
        foreach (var n in BlockNames)
            if (n.Kind != Kind.Experts && (n.In & Of(mtp)) != 0 && n.Gguf == suffix) return prefix + n.Hub;
        return null;
    }

    /// <summary>Splits blk.{n}.{suffix}.</summary>
    public static bool TryBlock(string gguf, out int block, out string suffix)
    {
        var m = GgufBlock().Match(gguf);
        block = m.Success ? int.Parse(m.Groups[1].Value) : -1;
        suffix = m.Success ? m.Groups[2].Value : "";
        return m.Success;
    }

    /// <summary>The Hub prefix (model.layers.{i}. or model.mtp.layers.{k}.) of GGUF block n.</summary>
    public static string HubPrefix(int block, int mainLayers) =>
        block >= mainLayers ? $"model.mtp.layers.{block - mainLayers}." : $"model.layers.{block}.";
}

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

    public const string TokenEmbedding = "token_embd.weight";
    public const string OutputNorm = "output_norm.weight";
    public const string Output = "output.weight";

    /// <summary>Per-block tensors shared by main and MTP layers: Hub suffix → GGUF suffix.</summary>
    private static readonly (string Hub, string Gguf)[] BlockNames =
    [
        ("input_layernorm.weight", "attn_norm.weight"),
        ("self_attn.q_proj.weight", "attn_q.weight"),
        ("self_attn.k_proj.weight", "attn_k.weight"),
        ("self_attn.v_proj.weight", "attn_v.weight"),
        ("self_attn.o_proj.weight", "attn_output.weight"),
        ("self_attn.attention_sink_bias", "attn_sinks.weight"),
        ("mlp.gate_proj.weight", "ffn_gate.weight"),
        ("mlp.up_proj.weight", "ffn_up.weight"),
        ("mlp.down_proj.weight", "ffn_down.weight"),
    ];

    /// <summary>Main-layer-only tensors.</summary>
    private static readonly (string Hub, string Gguf)[] MainNames =
    [
        ("post_attention_layernorm.weight", "ffn_norm.weight"),
        ("mlp.gate.weight", "ffn_gate_inp.weight"),
        ("mlp.gate.e_score_correction_bias", "exp_probs_b.bias"),
    ];

    /// <summary>MTP-only tensors. The MTP head norm is written as nextn.shared_head_norm; layer_output_norm is read too.</summary>
    private static readonly (string Hub, string Gguf)[] MtpNames =
    [
        ("pre_mlp_layernorm.weight", "ffn_norm.weight"),
        ("enorm.weight", "nextn.enorm.weight"),
        ("hnorm.weight", "nextn.hnorm.weight"),
        ("eh_proj.weight", "nextn.eh_proj.weight"),
        ("final_layernorm.weight", "nextn.shared_head_norm.weight"),
    ];

    /// <summary>Stacked expert tensors [E, rows, cols]: GGUF suffix and the Hub projection name of each expert.</summary>
    public static readonly (string Gguf, string Projection)[] ExpertNames =
    [
        ("ffn_gate_exps.weight", "gate_proj"),
        ("ffn_up_exps.weight", "up_proj"),
        ("ffn_down_exps.weight", "down_proj"),
    ];

    /// <summary>Fused q|k|v rows (MiMo-V2.5 checkpoints and some converted files); split on load.</summary>
    public const string FusedQkv = "attn_qkv.weight";

    /// <summary>Other spelling of the MTP head norm that llama.cpp accepts.</summary>
    public const string LayerOutputNorm = "layer_output_norm.weight";

    [GeneratedRegex(@"^model\.layers\.(\d+)\.(.+)$")]
    private static partial Regex HubLayer();

    [GeneratedRegex(@"^model\.mtp\.layers\.(\d+)\.(.+)$")]
    private static partial Regex HubMtp();

    [GeneratedRegex(@"^blk\.(\d+)\.(.+)$")]
    private static partial Regex GgufBlock();

    /// <summary>The GGUF name of a (non-expert) Hub tensor, or null when it has none.</summary>
    public static string? ToGguf(string hub, int mainLayers)
    {
        switch (hub)
        {
            case "model.embed_tokens.weight": return TokenEmbedding;
            case "model.norm.weight": return OutputNorm;
            case "lm_head.weight": return Output;
        }
        var m = HubLayer().Match(hub);
        if (m.Success) return Find(m.Groups[2].Value, int.Parse(m.Groups[1].Value), MainNames);
        m = HubMtp().Match(hub);
        if (m.Success) return Find(m.Groups[2].Value, mainLayers + int.Parse(m.Groups[1].Value), MtpNames);
        return null;

        static string? Find(string suffix, int block, (string Hub, string Gguf)[] extra)
        {
            foreach (var (h, g) in BlockNames.Concat(extra))
                if (h == suffix) return $"blk.{block}.{g}";
            return null;
        }
    }

    /// <summary>
    /// The Hub name of a (non-expert, non-fused) GGUF tensor, or null when it has none. Blocks from
    /// <paramref name="mainLayers"/> on are MTP layers.
    /// </summary>
    public static string? ToHub(string gguf, int mainLayers)
    {
        switch (gguf)
        {
            case TokenEmbedding: return "model.embed_tokens.weight";
            case OutputNorm: return "model.norm.weight";
            case Output: return "lm_head.weight";
        }
        if (!TryBlock(gguf, out int block, out string suffix)) return null;
        bool mtp = block >= mainLayers;
        string prefix = mtp ? $"model.mtp.layers.{block - mainLayers}." : $"model.layers.{block}.";
        if (mtp && suffix == LayerOutputNorm) return prefix + "final_layernorm.weight";
        foreach (var (h, g) in BlockNames.Concat(mtp ? MtpNames : MainNames))
            if (g == suffix) return prefix + h;
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

using System.Text.Json;
using System.Text.Json.Nodes;

namespace MimoSharp.Config;

/// <summary>
/// The model's <c>config.json</c> in the Hub key names (spec §1), with the defaults of spec §1.1
/// for absent keys. Construction validates it: a config that contradicts itself is rejected
/// with an error naming the key.
/// </summary>
public sealed record MimoConfig
{
    public int VocabSize { get; init; }
    public int HiddenSize { get; init; }
    public int IntermediateSize { get; init; }
    public int MoeIntermediateSize { get; init; }
    public int NumHiddenLayers { get; init; }

    /// <summary>Head layout of global (full-attention) layers.</summary>
    public required AttentionShape Global { get; init; }

    /// <summary>Head layout of sliding-window layers and of the MTP layers.</summary>
    public required AttentionShape Swa { get; init; }

    public double PartialRotaryFactor { get; init; } = 1.0;
    public int SlidingWindow { get; init; }
    public double AttentionValueScale { get; init; } = 1.0;

    /// <summary>Per main layer: true = sliding-window attention, false = global.</summary>
    public required bool[] IsSlidingWindowLayer { get; init; }

    /// <summary>Per main layer: true = MoE FFN, false = dense SwiGLU.</summary>
    public required bool[] IsMoeLayer { get; init; }

    public int NRoutedExperts { get; init; }
    public int NumExpertsPerTok { get; init; }
    public int NGroup { get; init; } = 1;
    public int TopkGroup { get; init; } = 1;
    public bool NormTopkProb { get; init; } = true;
    public double RoutedScalingFactor { get; init; } = 1.0;
    public double RmsNormEps { get; init; } = 1e-5;
    public bool TieWordEmbeddings { get; init; }
    public int MaxPositionEmbeddings { get; init; }
    public int? BosTokenId { get; init; }
    public int[] EosTokenIds { get; init; } = [];

    /// <summary>FP8 block size [rows, cols] from <c>quantization_config.weight_block_size</c>, if any.</summary>
    public int[]? WeightBlockSize { get; init; }

    /// <summary>
    /// Linear modules <c>quantization_config.ignored_layers</c> says were left unquantised (the release: every
    /// <c>o_proj</c>, main and MTP); their weights must not be stored as FP8.
    /// </summary>
    public IReadOnlyList<string> Fp8IgnoredLayers { get; init; } = [];

    /// <summary>The config as read, kept so a checkpoint we write carries every key through.</summary>
    public JsonObject? Raw { get; init; }

    /// <summary>Rotated dims per q/k head: int(head_dim * partial_rotary_factor), truncated (spec §4).</summary>
    public int RotaryDim(AttentionShape shape) => (int)(shape.HeadDim * PartialRotaryFactor);

    public static MimoConfig Load(string path)
    {
        if (!File.Exists(path))
            throw new MimoConfigException(path, "file", $"config file not found: {path}");
        JsonNode? node;
        try
        {
            // A repeated key would otherwise pass parsing and throw ArgumentException on first access.
            node = JsonNode.Parse(File.ReadAllText(path), documentOptions: new JsonDocumentOptions { AllowDuplicateProperties = false });
        }
        catch (JsonException e)
        {
            throw new MimoConfigException(path, "file", $"{path} is not valid JSON: {e.Message}");
        }
        if (node is not JsonObject obj)
            throw new MimoConfigException(path, "file", $"{path} must hold a JSON object");
        return Parse(obj, path);
    }

    public static MimoConfig Parse(JsonObject obj, string source = "config.json")
    {
        var r = new KeyReader(obj, source);
        int layers = r.Int("num_hidden_layers");
        int nq = r.Int("num_attention_heads");
        int hd = r.IntOr("head_dim", r.Int("hidden_size") / Math.Max(nq, 1));
        var global = new AttentionShape(
            nq,
            r.IntOr("num_key_value_heads", nq),
            hd,
            r.IntOr("v_head_dim", hd),
            r.DoubleOr("rope_theta", 10000.0),
            r.BoolOr("add_full_attention_sink_bias", false));
        var swa = new AttentionShape(
            r.IntOr("swa_num_attention_heads", global.NumHeads),
            r.IntOr("swa_num_key_value_heads", global.NumKvHeads),
            r.IntOr("swa_head_dim", global.HeadDim),
            r.IntOr("swa_v_head_dim", global.VHeadDim),
            r.DoubleOr("swa_rope_theta", global.RopeTheta),
            r.BoolOr("add_swa_attention_sink_bias", false));

        bool[] swaLayers = r.BoolListOr("hybrid_layer_pattern", layers,
            i => !(i == 0 || (i + 1) % 6 == 0));
        bool[] moeLayers = r.BoolListOr("moe_layer_freq", layers, i => i != 0);

        int? window = r.IntOrNull("sliding_window");
        int? windowSize = r.IntOrNull("sliding_window_size");
        if (window is not null && windowSize is not null && window != windowSize)
            throw new MimoConfigException(source, "sliding_window_size",
                $"sliding_window ({window}) and sliding_window_size ({windowSize}) must be equal");

        var eos = obj["eos_token_id"] switch
        {
            null => Array.Empty<int>(),
            JsonArray a => a.Select(x => x is JsonValue v && v.TryGetValue(out int id) ? id
                : throw new MimoConfigException(source, "eos_token_id", $"eos_token_id entries must be integers, got {x?.ToJsonString() ?? "null"}")).ToArray(),
            JsonValue v when v.TryGetValue(out int one) => [one],
            var other => throw new MimoConfigException(source, "eos_token_id", $"eos_token_id must be an integer or a list of integers, got {other.ToJsonString()}"),
        };

        int[]? block = null;
        string[] ignored = [];
        if (obj["quantization_config"] is JsonObject q)
        {
            string? Text(string key, string fallback) => q[key] switch
            {
                null => fallback,
                JsonValue v when v.TryGetValue(out string? t) => t,
                var other => throw new MimoConfigException(source, "quantization_config." + key, $"{key} must be a string, got {other.ToJsonString()}"),
            };
            string? method = Text("quant_method", "");
            if (method != "fp8")
                throw new MimoConfigException(source, "quantization_config.quant_method",
                    $"quant_method \"{method}\" is not supported (expected \"fp8\")");
            string? fmt = Text("fmt", "e4m3");
            if (fmt != "e4m3")
                throw new MimoConfigException(source, "quantization_config.fmt",
                    $"fmt \"{fmt}\" is not supported (expected \"e4m3\", the FP8 format of the release)");
            // "dynamic": activations are quantised (by FP8 engines) on the fly, never stored; this engine keeps them in
            // float32, which is what the official equations compute. "static" would need stored input scales.
            string? activations = Text("activation_scheme", "dynamic");
            if (activations != "dynamic")
                throw new MimoConfigException(source, "quantization_config.activation_scheme",
                    $"activation_scheme \"{activations}\" is not supported (expected \"dynamic\": no stored activation scales)");
            block = q["weight_block_size"] switch
            {
                null => [128, 128],
                JsonArray b when b.Count == 2 && b.All(x => x is JsonValue v && v.TryGetValue(out int _)) => [b[0]!.GetValue<int>(), b[1]!.GetValue<int>()],
                var other => throw new MimoConfigException(source, "quantization_config.weight_block_size",
                    $"weight_block_size must be two integers [rows, cols], got {other.ToJsonString()}"),
            };
            ignored = q["ignored_layers"] switch
            {
                null => [],
                JsonArray a when a.All(x => x is JsonValue v && v.TryGetValue(out string? _)) => a.Select(x => x!.GetValue<string>()).ToArray(),
                var other => throw new MimoConfigException(source, "quantization_config.ignored_layers",
                    $"ignored_layers must be a list of module names, got {other.ToJsonString()}"),
            };
        }

        // Keys whose other values would change the equations this engine implements: refuse rather than guess.
        RequireValue(obj, source, "scoring_func", "sigmoid");
        RequireValue(obj, source, "topk_method", "noaux_tc");
        RequireValue(obj, source, "hidden_act", "silu");
        if (obj["rope_scaling"] is JsonNode scaling)
            throw new MimoConfigException(source, "rope_scaling",
                $"rope_scaling {scaling.ToJsonString()} is not supported (MiMo-V2-Flash uses none; its semantics are unconfirmed)");
        if (r.IntOrNull("n_shared_experts") is int shared && shared != 0)
            throw new MimoConfigException(source, "n_shared_experts", $"n_shared_experts {shared} is not supported (MiMo-V2-Flash has none)");
        if (r.BoolOr("attention_bias", false))
            throw new MimoConfigException(source, "attention_bias", "attention_bias true is not supported (MiMo-V2-Flash's projections have no bias)");

        var cfg = new MimoConfig
        {
            VocabSize = r.Int("vocab_size"),
            HiddenSize = r.Int("hidden_size"),
            IntermediateSize = r.Int("intermediate_size"),
            MoeIntermediateSize = r.IntOr("moe_intermediate_size", 0),
            NumHiddenLayers = layers,
            Global = global,
            Swa = swa,
            PartialRotaryFactor = r.DoubleOr("partial_rotary_factor", 1.0),
            SlidingWindow = window ?? windowSize ?? 0,
            AttentionValueScale = r.DoubleOr("attention_value_scale", 1.0),
            IsSlidingWindowLayer = swaLayers,
            IsMoeLayer = moeLayers,
            NRoutedExperts = r.IntOr("n_routed_experts", 0),
            NumExpertsPerTok = r.IntOr("num_experts_per_tok", 0),
            NGroup = r.IntOr("n_group", 1),
            TopkGroup = r.IntOr("topk_group", 1),
            NormTopkProb = r.BoolOr("norm_topk_prob", true),
            RoutedScalingFactor = r.DoubleOr("routed_scaling_factor", 1.0),
            RmsNormEps = r.DoubleOr("layernorm_epsilon", r.DoubleOr("rms_norm_eps", 1e-5)),
            TieWordEmbeddings = r.BoolOr("tie_word_embeddings", false),
            MaxPositionEmbeddings = r.IntOr("max_position_embeddings", 262144),
            BosTokenId = r.IntOrNull("bos_token_id"),
            EosTokenIds = eos,
            WeightBlockSize = block,
            Fp8IgnoredLayers = ignored,
            Raw = obj,
        };
        cfg.Validate(source);
        return cfg;
    }

    private static void RequireValue(JsonObject obj, string source, string key, string expected)
    {
        if (obj[key] is not JsonNode node) return;
        string? value = node is JsonValue v && v.TryGetValue(out string? text) ? text : null;
        if (value != expected)
            throw new MimoConfigException(source, key, $"{key} {node.ToJsonString()} is not supported (expected \"{expected}\")");
    }

    private void Validate(string source)
    {
        void Require(bool ok, string key, string message)
        {
            if (!ok) throw new MimoConfigException(source, key, message);
        }

        Require(VocabSize > 0, "vocab_size", "vocab_size must be positive");
        Require(HiddenSize > 0, "hidden_size", "hidden_size must be positive");
        Require(NumHiddenLayers > 0, "num_hidden_layers", "num_hidden_layers must be positive");
        Require(IntermediateSize > 0, "intermediate_size", "intermediate_size must be positive");
        Require(MaxPositionEmbeddings > 0, "max_position_embeddings", "max_position_embeddings must be positive");
        Require(RmsNormEps > 0, "layernorm_epsilon", "layernorm_epsilon must be positive");
        Require(PartialRotaryFactor > 0 && PartialRotaryFactor <= 1, "partial_rotary_factor",
            $"partial_rotary_factor must be in (0, 1], got {PartialRotaryFactor}");
        foreach (var (shape, prefix) in new[] { (Global, ""), (Swa, "swa_") })
        {
            Require(shape.NumHeads > 0, prefix + "num_attention_heads", $"{prefix}num_attention_heads must be positive");
            Require(shape.NumKvHeads > 0 && shape.NumHeads % shape.NumKvHeads == 0, prefix + "num_key_value_heads",
                $"{prefix}num_attention_heads ({shape.NumHeads}) must be a multiple of {prefix}num_key_value_heads ({shape.NumKvHeads})");
            Require(shape.HeadDim > 0, prefix + "head_dim", $"{prefix}head_dim must be positive");
            Require(shape.VHeadDim > 0, prefix + "v_head_dim", $"{prefix}v_head_dim must be positive");
            Require(shape.RopeTheta > 0, prefix + "rope_theta", $"{prefix}rope_theta must be positive");
            int rd = RotaryDim(shape);
            Require(rd % 2 == 0, "partial_rotary_factor",
                $"rotary dim int({prefix}head_dim {shape.HeadDim} * partial_rotary_factor {PartialRotaryFactor}) = {rd} must be even");
        }
        bool anySwa = IsSlidingWindowLayer.Any(x => x);
        Require(!anySwa || SlidingWindow > 0, "sliding_window",
            "sliding_window must be positive when hybrid_layer_pattern has sliding-window layers");
        if (IsMoeLayer.Any(x => x))
        {
            Require(MoeIntermediateSize > 0, "moe_intermediate_size", "moe_intermediate_size must be positive for MoE layers");
            Require(NRoutedExperts > 0, "n_routed_experts", "n_routed_experts must be positive for MoE layers");
            Require(NGroup > 0 && NRoutedExperts % NGroup == 0, "n_group",
                $"n_routed_experts ({NRoutedExperts}) must be divisible by n_group ({NGroup})");
            Require(NGroup == 1 || NRoutedExperts / NGroup >= 2, "n_group",
                $"each of the n_group ({NGroup}) groups needs at least 2 experts (the group score sums the top two)");
            Require(TopkGroup > 0 && TopkGroup <= NGroup, "topk_group",
                $"topk_group ({TopkGroup}) must be in 1..n_group ({NGroup})");
            Require(NumExpertsPerTok > 0 && NumExpertsPerTok <= TopkGroup * (NRoutedExperts / NGroup), "num_experts_per_tok",
                $"num_experts_per_tok ({NumExpertsPerTok}) must be in 1..{TopkGroup * (NRoutedExperts / NGroup)} (experts in the kept groups)");
        }
        if (WeightBlockSize is not null)
            Require(WeightBlockSize[0] > 0 && WeightBlockSize[1] > 0, "quantization_config.weight_block_size",
                "weight_block_size entries must be positive");
        Require(!TieWordEmbeddings, "tie_word_embeddings",
            "tie_word_embeddings must be false for MiMo-V2-Flash (lm_head is a separate tensor)");
    }

    /// <summary>Reads keys with the spec's semantics: null and absent both mean "use the default".</summary>
    private readonly struct KeyReader(JsonObject obj, string source)
    {
        private JsonValue? Value(string key)
        {
            var n = obj[key];
            if (n is null) return null;
            if (n is JsonValue v) return v;
            throw new MimoConfigException(source, key, $"{key} must be a scalar, got {n.GetValueKind()}");
        }

        public int Int(string key) =>
            IntOrNull(key) ?? throw new MimoConfigException(source, key, $"required key {key} is missing");

        public int IntOr(string key, int fallback) => IntOrNull(key) ?? fallback;

        public int? IntOrNull(string key)
        {
            var v = Value(key);
            if (v is null) return null;
            if (v.TryGetValue(out int i)) return i;
            if (v.TryGetValue(out double d) && d == Math.Floor(d) && Math.Abs(d) <= int.MaxValue) return (int)d;
            throw new MimoConfigException(source, key, $"{key} must be an integer, got {v.ToJsonString()}");
        }

        public double DoubleOr(string key, double fallback)
        {
            var v = Value(key);
            if (v is null) return fallback;
            if (v.TryGetValue(out double d)) return d;
            throw new MimoConfigException(source, key, $"{key} must be a number, got {v.ToJsonString()}");
        }

        public bool BoolOr(string key, bool fallback)
        {
            var v = Value(key);
            if (v is null) return fallback;
            if (v.TryGetValue(out bool b)) return b;
            throw new MimoConfigException(source, key, $"{key} must be true or false, got {v.ToJsonString()}");
        }

        public bool[] BoolListOr(string key, int count, Func<int, bool> fallback)
        {
            var n = obj[key];
            if (n is null)
                return Enumerable.Range(0, count).Select(fallback).ToArray();
            if (n is not JsonArray a)
                throw new MimoConfigException(source, key, $"{key} must be a list of 0/1, one per layer");
            if (a.Count != count)
                throw new MimoConfigException(source, key,
                    $"{key} has {a.Count} entries but num_hidden_layers is {count}");
            var result = new bool[count];
            for (int i = 0; i < count; i++)
            {
                int v = a[i] is JsonValue jv && jv.TryGetValue(out int iv) ? iv : -1;
                if (v is not (0 or 1))
                    throw new MimoConfigException(source, key, $"{key}[{i}] must be 0 or 1, got {a[i]?.ToJsonString()}");
                result[i] = v == 1;
            }
            return result;
        }
    }
}

/// <summary>Head counts, head dims and RoPE base of one attention type (spec §1, §3).</summary>
public sealed record AttentionShape(int NumHeads, int NumKvHeads, int HeadDim, int VHeadDim, double RopeTheta, bool HasSink)
{
    public int QueriesPerKvHead => NumHeads / NumKvHeads;
}

/// <summary>A config key is missing, malformed, or contradicts the rest of the config or the tensors.</summary>
public sealed class MimoConfigException(string source, string key, string message)
    : Exception($"{source}: {message}")
{
    public string ConfigPath { get; } = source;
    public string Key { get; } = key;
}

using System.Text.Json.Nodes;
using MimoSharp.Config;
using MimoSharp.Tensors;

namespace MimoSharp.Checkpoints;

/// <summary>
/// Opens a <c>mimo2</c> GGUF file (ours or llama.cpp's converter's) as a <see cref="Checkpoint"/>: the metadata
/// becomes a Hub-style config.json, and every tensor is exposed under its Hub name, still memory-mapped.
/// Stacked expert tensors are sliced per expert and a fused attn_qkv is sliced into q, k and v — rows are
/// contiguous in every ggml format, so slicing moves no data. F32, F16, BF16, Q8_0 and Q4_K tensors are
/// used as stored; other ggml types are refused with the tensor named.
/// </summary>
public static unsafe class GgufCheckpoint
{
    /// <summary>True for a path that names a GGUF file rather than a model folder.</summary>
    public static bool IsGgufPath(string path) => File.Exists(path) && GgufFile.IsGguf(path);

    public static Checkpoint Open(string path)
    {
        var file = GgufFile.Open(path);
        try
        {
            var config = ReadConfig(file);
            var cfg = MimoConfig.Parse(config, path);
            var tensors = MapTensors(file, cfg);
            return Checkpoint.FromTensors(path, cfg, tensors, file);
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    private static string K(string name) => GgufMimo2.Key(name);

    /// <summary>The config.json (Hub key names) that the metadata describes.</summary>
    public static JsonObject ReadConfig(GgufFile f)
    {
        string? arch = f.String("general.architecture");
        if (arch != GgufMimo2.Architecture)
            throw new CheckpointException($"{f.Path}: general.architecture is \"{arch}\", expected \"{GgufMimo2.Architecture}\" (MiMo-V2-Flash)");
        long Required(string key) => f.Int(K(key)) ?? throw new CheckpointException($"{f.Path}: metadata {K(key)} is missing");
        // Every size is range-checked before it sizes an array or becomes an int: a lying field must be an error.
        int Bounded(string key, long value, long min, long max) => value >= min && value <= max ? (int)value
            : throw new CheckpointException($"{f.Path}: metadata {K(key)} is {value}, outside {min}..{max}");

        int blocks = Bounded("block_count", Required("block_count"), 1, 4096);
        int mtp = Bounded("nextn_predict_layers", f.Int(K("nextn_predict_layers")) ?? 0, 0, blocks);
        int layers = blocks - mtp;
        if (layers <= 0)
            throw new CheckpointException($"{f.Path}: {K("block_count")} ({blocks}) must exceed {K("nextn_predict_layers")} ({mtp})");

        var swaPattern = f.IntPerLayer(K("attention.sliding_window_pattern"), blocks)
                         ?? throw new CheckpointException($"{f.Path}: metadata {K("attention.sliding_window_pattern")} is missing");
        var heads = f.IntPerLayer(K("attention.head_count"), blocks)
                    ?? throw new CheckpointException($"{f.Path}: metadata {K("attention.head_count")} is missing");
        var kvHeads = f.IntPerLayer(K("attention.head_count_kv"), blocks) ?? heads;
        int Of(long[] perLayer, bool swa, int fallbackLayer)
        {
            for (int i = 0; i < layers; i++)
                if ((swaPattern[i] != 0) == swa) return Bounded("attention.head_count", perLayer[i], 1, 1 << 16);
            return Bounded("attention.head_count", perLayer[fallbackLayer], 1, 1 << 16);
        }
        int globalHeads = Of(heads, false, 0), swaHeads = Of(heads, true, blocks - 1);
        int globalKv = Of(kvHeads, false, 0), swaKv = Of(kvHeads, true, blocks - 1);

        int embd = Bounded("embedding_length", Required("embedding_length"), 1, 1 << 20);
        int headDim = Bounded("attention.key_length", f.Int(K("attention.key_length")) ?? embd / Math.Max(1, globalHeads), 1, 1 << 16);
        int vHeadDim = Bounded("attention.value_length", f.Int(K("attention.value_length")) ?? headDim, 1, 1 << 16);
        int swaHeadDim = Bounded("attention.key_length_swa", f.Int(K("attention.key_length_swa")) ?? headDim, 1, 1 << 16);
        int swaVHeadDim = Bounded("attention.value_length_swa", f.Int(K("attention.value_length_swa")) ?? vHeadDim, 1, 1 << 16);
        int rotary = Bounded("rope.dimension_count", f.Int(K("rope.dimension_count")) ?? headDim, 0, 1 << 16);
        // The config states a fraction; int(head_dim * fraction) must give back exactly the stored rotary count.
        double partial = rotary >= headDim ? 1.0 : (rotary + 0.5) / headDim;

        long vocab = f.Int(K("vocab_size"))
                     ?? f.Array("tokenizer.ggml.tokens")?.Count
                     ?? (f.Tensors.TryGetValue(GgufMimo2.ToGguf("model.embed_tokens.weight", layers)!, out var emb) ? emb.Dims[1] : 0);

        var ff = f.IntPerLayer(K("feed_forward_length"), blocks);
        long intermediate = 0;
        if (ff is not null)
            for (int i = 0; i < blocks; i++) intermediate = Math.Max(intermediate, ff[i]);
        if (intermediate == 0 && f.Tensors.TryGetValue(GgufMimo2.Block(0, "mlp.gate_proj.weight"), out var gate0)) intermediate = gate0.Dims[1];

        var pattern = new JsonArray();
        var moe = new JsonArray();
        bool sinksSwa = false, sinksFull = false;
        for (int i = 0; i < layers; i++)
        {
            bool swa = swaPattern[i] != 0;
            pattern.Add(swa ? 1 : 0);
            moe.Add(f.Tensors.ContainsKey(GgufMimo2.Block(i, "mlp.gate.weight")) ? 1 : 0);
            if (f.Tensors.ContainsKey(GgufMimo2.Block(i, "self_attn.attention_sink_bias")))
            {
                if (swa) sinksSwa = true;
                else sinksFull = true;
            }
        }
        for (int i = layers; i < blocks; i++)
            if (f.Tensors.ContainsKey(GgufMimo2.Block(i, "self_attn.attention_sink_bias"))) sinksSwa = true;

        double ropeTheta = f.Float(K("rope.freq_base")) ?? 10000.0;
        var eos = f.Int("tokenizer.ggml.eos_token_id");
        var config = new JsonObject
        {
            ["architectures"] = new JsonArray("MiMoV2FlashForCausalLM"),
            ["model_type"] = "mimo_v2_flash",
            ["vocab_size"] = Bounded("vocab_size", vocab, 1, 1 << 24),
            ["hidden_size"] = embd,
            ["intermediate_size"] = Bounded("feed_forward_length", intermediate, 0, 1 << 24),
            ["moe_intermediate_size"] = Bounded("expert_feed_forward_length", f.Int(K("expert_feed_forward_length")) ?? 0, 0, 1 << 24),
            ["num_hidden_layers"] = layers,
            ["num_attention_heads"] = globalHeads,
            ["num_key_value_heads"] = globalKv,
            ["head_dim"] = headDim,
            ["v_head_dim"] = vHeadDim,
            ["swa_num_attention_heads"] = swaHeads,
            ["swa_num_key_value_heads"] = swaKv,
            ["swa_head_dim"] = swaHeadDim,
            ["swa_v_head_dim"] = swaVHeadDim,
            ["partial_rotary_factor"] = partial,
            ["rope_theta"] = ropeTheta,
            ["swa_rope_theta"] = f.Float(K("rope.freq_base_swa")) ?? ropeTheta,
            ["sliding_window"] = Bounded("attention.sliding_window", f.Int(K("attention.sliding_window")) ?? 0, 0, int.MaxValue),
            ["hybrid_layer_pattern"] = pattern,
            ["moe_layer_freq"] = moe,
            ["add_swa_attention_sink_bias"] = sinksSwa,
            ["add_full_attention_sink_bias"] = sinksFull,
            ["attention_value_scale"] = f.Float(K("attention.value_scale")) ?? 1.0,
            ["n_routed_experts"] = Bounded("expert_count", f.Int(K("expert_count")) ?? 0, 0, 1 << 16),
            ["num_experts_per_tok"] = Bounded("expert_used_count", f.Int(K("expert_used_count")) ?? 0, 0, 1 << 16),
            ["n_group"] = Bounded("expert_group_count", Math.Max(1, f.Int(K("expert_group_count")) ?? 1), 1, 1 << 16),
            ["topk_group"] = Bounded("expert_group_used_count", Math.Max(1, f.Int(K("expert_group_used_count")) ?? 1), 1, 1 << 16),
            // llama.cpp's mimo2 graph always renormalises the chosen weights and applies no routed scaling.
            ["norm_topk_prob"] = f.Bool(K("expert_weights_norm")) ?? true,
            ["routed_scaling_factor"] = f.Float(K("expert_weights_scale")) is double s && s != 0 ? s : 1.0,
            ["scoring_func"] = "sigmoid",
            ["topk_method"] = "noaux_tc",
            ["hidden_act"] = "silu",
            ["layernorm_epsilon"] = f.Float(K("attention.layer_norm_rms_epsilon")) ?? 1e-5,
            ["max_position_embeddings"] = (int)(f.Int(K("context_length")) ?? 262144),
            ["tie_word_embeddings"] = false,
            ["bos_token_id"] = f.Int("tokenizer.ggml.bos_token_id") is long bos ? JsonValue.Create((int)bos) : null,
            ["eos_token_id"] = eos is long e ? JsonValue.Create((int)e) : null,
        };
        return config;
    }

    private static Dictionary<string, TensorInfo> MapTensors(GgufFile f, MimoConfig cfg)
    {
        int layers = cfg.NumHiddenLayers;
        var result = new Dictionary<string, TensorInfo>(StringComparer.Ordinal);
        void Put(string hub, GgufTensor t, long[] shape, long byteOffset, long byteLength)
        {
            var (dtype, blocks) = t.Type switch
            {
                GgmlType.F32 => (DType.F32, (WeightFormat?)null),
                GgmlType.F16 => (DType.F16, null),
                GgmlType.BF16 => (DType.BF16, null),
                GgmlType.Q8_0 => (DType.U8, WeightFormat.Q8_0),
                GgmlType.Q4_K => (DType.U8, WeightFormat.Q4_K),
                GgmlType.Q5_K => (DType.U8, WeightFormat.Q5_K),
                GgmlType.Q6_K => (DType.U8, WeightFormat.Q6_K),
                _ => throw new CheckpointException(
                    $"{f.Path}: tensor {t.Name} is {t.Type}, which MimoSharp cannot compute with (supported: F32, F16, BF16, Q8_0, Q4_K, Q5_K, Q6_K); " +
                    "convert the original checkpoint with `mimo convert --to gguf --quant q8_0|q4_k` instead"),
            };
            if (blocks is not null && shape.Length != 2)
                throw new CheckpointException($"{f.Path}: tensor {t.Name} is {t.Type} but has {shape.Length} dimensions; only matrices may be block-quantised");
            if (!result.TryAdd(hub, new TensorInfo
            {
                Name = hub,
                DType = dtype,
                Shape = shape,
                File = f.Path,
                Data = t.Data + byteOffset,
                ByteLength = byteLength,
                BlockFormat = blocks,
                Mapped = true,
            }))
                throw new CheckpointException($"{f.Path}: tensor {t.Name} gives {hub}, which another tensor already gave");
        }

        foreach (var t in f.TensorList)
        {
            long[] shape = t.Dims.Reverse().ToArray(); // ggml lists the row length first; Hub shapes list it last
            long rowBytes = Gguf.RowBytes(t.Type, t.Dims[0]);
            string? hub = GgufMimo2.ToHub(t.Name, layers);
            if (hub is not null)
            {
                Put(hub, t, shape, 0, t.ByteLength);
                continue;
            }
            if (!GgufMimo2.TryBlock(t.Name, out int block, out string suffix))
                throw new CheckpointException($"{f.Path}: tensor {t.Name} is not part of the mimo2 architecture");
            string prefix = GgufMimo2.HubPrefix(block, layers);
            if (suffix == GgufMimo2.FusedQkv)
            {
                var shapeOf = block >= layers || cfg.IsSlidingWindowLayer[block] ? cfg.Swa : cfg.Global;
                long q = shapeOf.NumHeads * shapeOf.HeadDim, k = shapeOf.NumKvHeads * shapeOf.HeadDim, v = shapeOf.NumKvHeads * shapeOf.VHeadDim;
                if (t.Dims.Length != 2 || t.Dims[1] != q + k + v)
                    throw new CheckpointException($"{f.Path}: tensor {t.Name} has dims {t.DimsText}, expected [{t.Dims[0]}, {q + k + v}] (q {q} + k {k} + v {v} rows)");
                Put(prefix + "self_attn.q_proj.weight", t, [q, t.Dims[0]], 0, q * rowBytes);
                Put(prefix + "self_attn.k_proj.weight", t, [k, t.Dims[0]], q * rowBytes, k * rowBytes);
                Put(prefix + "self_attn.v_proj.weight", t, [v, t.Dims[0]], (q + k) * rowBytes, v * rowBytes);
                continue;
            }
            if (GgufMimo2.Experts(suffix) is { } experts && block < layers)
            {
                if (t.Dims.Length != 3)
                    throw new CheckpointException($"{f.Path}: tensor {t.Name} has dims {t.DimsText}, expected [cols, rows, experts]");
                long perExpert = rowBytes * t.Dims[1];
                for (int e = 0; e < t.Dims[2]; e++)
                    Put(prefix + experts.OfExpert(e), t, [t.Dims[1], t.Dims[0]], e * perExpert, perExpert);
                continue;
            }
            throw new CheckpointException($"{f.Path}: tensor {t.Name} is not part of the mimo2 architecture as MimoSharp runs it");
        }
        return result;
    }
}

using System.Text.Json.Nodes;
using MimoSharp.Config;
using MimoSharp.Tensors;

namespace MimoSharp.Checkpoints;

/// <summary>
/// Writes a randomly initialised checkpoint of any MiMo-V2-Flash shape in the Hub layout (config.json +
/// model.safetensors), for speed measurements and for tests of shapes the fixtures do not cover.
/// </summary>
public static class SyntheticCheckpoint
{
    /// <summary>A config in Hub key names with MiMo-V2-Flash proportions; edit the object before writing to vary it.</summary>
    public static JsonObject Config(int hidden, int layers, int experts, int topK, int moeIntermediate, int vocab,
        int heads = 4, int headDim = 96, int vHeadDim = 64, int window = 128, int? denseIntermediate = null)
    {
        var pattern = new JsonArray();
        var moe = new JsonArray();
        for (int i = 0; i < layers; i++)
        {
            pattern.Add(i == 0 || (i + 1) % 6 == 0 ? 0 : 1);
            moe.Add(i == 0 ? 0 : 1);
        }
        return new JsonObject
        {
            ["architectures"] = new JsonArray("MiMoV2FlashForCausalLM"),
            ["model_type"] = "mimo_v2_flash",
            ["vocab_size"] = vocab,
            ["hidden_size"] = hidden,
            ["intermediate_size"] = denseIntermediate ?? 4 * hidden,
            ["moe_intermediate_size"] = moeIntermediate,
            ["num_hidden_layers"] = layers,
            ["num_attention_heads"] = heads,
            ["num_key_value_heads"] = Math.Max(1, heads / 16),
            ["head_dim"] = headDim,
            ["v_head_dim"] = vHeadDim,
            ["swa_num_attention_heads"] = heads,
            ["swa_num_key_value_heads"] = Math.Max(1, heads / 8),
            ["swa_head_dim"] = headDim,
            ["swa_v_head_dim"] = vHeadDim,
            ["partial_rotary_factor"] = 0.334,
            ["rope_theta"] = 5000000.0,
            ["swa_rope_theta"] = 10000.0,
            ["sliding_window"] = window,
            ["sliding_window_size"] = window,
            ["hybrid_layer_pattern"] = pattern,
            ["moe_layer_freq"] = moe,
            ["add_swa_attention_sink_bias"] = true,
            ["add_full_attention_sink_bias"] = false,
            ["attention_value_scale"] = 0.707,
            ["n_routed_experts"] = experts,
            ["num_experts_per_tok"] = topK,
            ["n_group"] = 1,
            ["topk_group"] = 1,
            ["norm_topk_prob"] = true,
            ["routed_scaling_factor"] = null,
            ["scoring_func"] = "sigmoid",
            ["topk_method"] = "noaux_tc",
            ["hidden_act"] = "silu",
            ["layernorm_epsilon"] = 1e-5,
            ["max_position_embeddings"] = 262144,
            ["tie_word_embeddings"] = false,
            ["torch_dtype"] = "bfloat16",
        };
    }

    /// <summary>Writes config.json and model.safetensors with BF16 (or F32) weights drawn from N(0, 0.02²)-like noise.</summary>
    public static void Write(string directory, JsonObject config, int mtpLayers, int seed = 0, DType dtype = DType.BF16)
    {
        var cfg = MimoConfig.Parse(config, "synthetic config");
        Directory.CreateDirectory(directory);
        var rng = new Random(seed);
        var w = new SafetensorsWriter();
        int h = cfg.HiddenSize;

        void Matrix(string name, int rows, int cols)
        {
            var values = new float[(long)rows * cols];
            float scale = 1f / MathF.Sqrt(cols);
            for (long i = 0; i < values.LongLength; i++) values[i] = (float)(rng.NextDouble() * 2 - 1) * scale * 1.7f;
            Add(name, [rows, cols], values);
        }
        void Norm(string name, int n)
        {
            var values = new float[n];
            for (int i = 0; i < n; i++) values[i] = 1f + (float)(rng.NextDouble() - 0.5) * 0.2f;
            w.AddF32(name, [n], values);
        }
        void Add(string name, long[] shape, float[] values)
        {
            if (dtype == DType.BF16) w.AddBF16(name, shape, values);
            else w.AddF32(name, shape, values);
        }
        void AttentionWeights(string p, AttentionShape s)
        {
            Matrix(p + "q_proj.weight", s.NumHeads * s.HeadDim, h);
            Matrix(p + "k_proj.weight", s.NumKvHeads * s.HeadDim, h);
            Matrix(p + "v_proj.weight", s.NumKvHeads * s.VHeadDim, h);
            Matrix(p + "o_proj.weight", h, s.NumHeads * s.VHeadDim);
            if (s.HasSink)
            {
                var sinks = new float[s.NumHeads];
                for (int i = 0; i < sinks.Length; i++) sinks[i] = (float)rng.NextDouble();
                w.AddF32(p + "attention_sink_bias", [s.NumHeads], sinks);
            }
        }
        void Mlp(string p, int inter)
        {
            Matrix(p + "gate_proj.weight", inter, h);
            Matrix(p + "up_proj.weight", inter, h);
            Matrix(p + "down_proj.weight", h, inter);
        }

        Matrix("model.embed_tokens.weight", cfg.VocabSize, h);
        for (int i = 0; i < cfg.NumHiddenLayers; i++)
        {
            string p = $"model.layers.{i}.";
            Norm(p + "input_layernorm.weight", h);
            Norm(p + "post_attention_layernorm.weight", h);
            AttentionWeights(p + "self_attn.", cfg.IsSlidingWindowLayer[i] ? cfg.Swa : cfg.Global);
            if (cfg.IsMoeLayer[i])
            {
                Matrix(p + "mlp.gate.weight", cfg.NRoutedExperts, h);
                w.AddF32(p + "mlp.gate.e_score_correction_bias", [cfg.NRoutedExperts], new float[cfg.NRoutedExperts]);
                for (int e = 0; e < cfg.NRoutedExperts; e++) Mlp($"{p}mlp.experts.{e}.", cfg.MoeIntermediateSize);
            }
            else
            {
                Mlp(p + "mlp.", cfg.IntermediateSize);
            }
        }
        Norm("model.norm.weight", h);
        Matrix("lm_head.weight", cfg.VocabSize, h);
        for (int k = 0; k < mtpLayers; k++)
        {
            string p = $"model.mtp.layers.{k}.";
            Norm(p + "enorm.weight", h);
            Norm(p + "hnorm.weight", h);
            Matrix(p + "eh_proj.weight", h, 2 * h);
            Norm(p + "input_layernorm.weight", h);
            AttentionWeights(p + "self_attn.", cfg.Swa);
            Norm(p + "pre_mlp_layernorm.weight", h);
            Mlp(p + "mlp.", cfg.IntermediateSize);
            Norm(p + "final_layernorm.weight", h);
        }
        var json = config.DeepClone().AsObject();
        json["torch_dtype"] = dtype == DType.BF16 ? "bfloat16" : "float32";
        File.WriteAllText(Path.Combine(directory, "config.json"), json.ToJsonString(new System.Text.Json.JsonSerializerOptions { WriteIndented = true }));
        w.Write(Path.Combine(directory, Checkpoint.SingleFileName));
    }
}

using System.Text;
using System.Text.Json.Nodes;
using MimoSharp.Tests.Support;
using MimoSharp.Text;
using MimoSharp.Training.Data;
using MimoSharp.Training.Pretraining;

namespace MimoSharp.Training.Tests.Support;

/// <summary>
/// A throw-away workspace for training tests: a small tokenizer (Qwen3's cut to 300 BPE ids), a generated corpus
/// with learnable structure packed into shards, and a tiny MiMo config (SWA + global layer, MoE with groups, 2 MTP layers).
/// </summary>
public sealed class TinyRun : IDisposable
{
    public const int BpeVocab = 300;

    public string Root { get; }
    public string Tokenizer => Path.Combine(Root, "tokenizer.json");
    public string TextDir => Path.Combine(Root, "text");
    public string Corpus => Path.Combine(Root, "corpus");
    public string ConfigPath => Path.Combine(Root, "config.json");
    public int VocabSize { get; }

    public TinyRun()
    {
        TorchSetup.Init();
        Root = Path.Combine(Path.GetTempPath(), "mimo-train-" + Guid.NewGuid().ToString("N")[..12]);
        Directory.CreateDirectory(TextDir);
        string qwen = Fixtures.QwenTokenizerPath;
        File.WriteAllText(Tokenizer, TokenizerTruncation.Truncate(File.ReadAllBytes(qwen), BpeVocab, qwen));
        VocabSize = Text.Tokenizer.FromFile(Tokenizer).VocabSize;
        File.WriteAllText(Path.Combine(TextDir, "counting.txt"), Counting(1, 400));
        File.WriteAllText(Path.Combine(TextDir, "rhymes.txt"), Rhymes(300));
        CorpusPacker.Pack(TextDir, Tokenizer, Corpus, heldoutFraction: 0.1, shardTokens: 3_000);
        File.WriteAllText(ConfigPath, TinyConfig(VocabSize).ToJsonString());
    }

    public static string Counting(int from, int to)
    {
        var sb = new StringBuilder();
        for (int i = from; i <= to; i++) sb.Append("number ").Append(i).Append(" comes after ").Append(i - 1).Append(".\n");
        return sb.ToString();
    }

    public static string Rhymes(int lines)
    {
        string[] animals = ["cat", "dog", "fox", "owl", "bee", "cow"];
        string[] places = ["on the mat", "in the fog", "in a box", "at the bowl", "by the sea", "with a bow"];
        var sb = new StringBuilder();
        for (int i = 0; i < lines; i++)
        {
            sb.Append("the ").Append(animals[i % 6]).Append(" sat ").Append(places[i % 6]).Append(".\n");
            if (i % 25 == 24) sb.Append("\n\f\n");
        }
        return sb.ToString();
    }

    public static JsonObject TinyConfig(int vocab) => new()
    {
        ["architectures"] = new JsonArray("MiMoV2FlashForCausalLM"),
        ["model_type"] = "mimo_v2_flash",
        ["vocab_size"] = vocab,
        ["hidden_size"] = 32,
        ["intermediate_size"] = 64,
        ["moe_intermediate_size"] = 16,
        ["num_hidden_layers"] = 2,
        ["num_attention_heads"] = 4,
        ["num_key_value_heads"] = 1,
        ["head_dim"] = 12,
        ["v_head_dim"] = 8,
        ["swa_num_attention_heads"] = 4,
        ["swa_num_key_value_heads"] = 2,
        ["swa_head_dim"] = 12,
        ["swa_v_head_dim"] = 8,
        ["partial_rotary_factor"] = 0.334,
        ["rope_theta"] = 5000000.0,
        ["swa_rope_theta"] = 10000.0,
        ["sliding_window"] = 8,
        ["sliding_window_size"] = 8,
        ["hybrid_layer_pattern"] = new JsonArray(1, 0),
        ["moe_layer_freq"] = new JsonArray(0, 1),
        ["add_swa_attention_sink_bias"] = true,
        ["add_full_attention_sink_bias"] = false,
        ["attention_value_scale"] = 0.707,
        ["n_routed_experts"] = 6,
        ["num_experts_per_tok"] = 2,
        ["n_group"] = 3,
        ["topk_group"] = 2,
        ["norm_topk_prob"] = true,
        ["scoring_func"] = "sigmoid",
        ["topk_method"] = "noaux_tc",
        ["hidden_act"] = "silu",
        ["layernorm_epsilon"] = 1e-5,
        ["max_position_embeddings"] = 512,
        ["tie_word_embeddings"] = false,
        ["initializer_range"] = 0.02,
        ["eos_token_id"] = BpeVocab,
    };

    public TrainOptions Options(string output, int steps = 30) => new()
    {
        DataDirectory = Corpus,
        OutputDirectory = output,
        ConfigPath = ConfigPath,
        MtpLayers = 2,
        Steps = steps,
        BatchSize = 4,
        ContextLength = 32,
        LearningRate = 3e-3,
        WarmupSteps = 5,
        EvalEvery = 10,
        EvalWindows = 8,
        SaveEvery = 1000,
        LogEvery = 1,
        Threads = 1,
    };

    public string Out(string name) => Path.Combine(Root, name);

    public void Dispose()
    {
        try
        {
            Directory.Delete(Root, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}

using System.Text.Json.Nodes;
using MimoSharp.Checkpoints;
using MimoSharp.Inference;
using MimoSharp.Model;

namespace MimoSharp.Tests.Model;

/// <summary>
/// Shapes and options the fixtures do not use: the engine must run any checkpoint of the architecture.
/// Without a second implementation here, these check the invariants that must hold for every shape.
/// </summary>
public sealed class OtherShapesTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "mimo-shape-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(_dir)) Directory.Delete(_dir, recursive: true);
    }

    public static TheoryData<string> Variants() => new("odd-dims", "no-sinks-full-rope", "grouped-router", "one-layer");

    [Theory]
    [MemberData(nameof(Variants))]
    public void PrefillIncrementalAndSpeculativePathsAgree(string variant)
    {
        var cfg = SyntheticCheckpoint.Config(hidden: 72, layers: 7, experts: 8, topK: 2, moeIntermediate: 40, vocab: 300,
            heads: 6, headDim: 36, vHeadDim: 20, window: 5, denseIntermediate: 100);
        int mtp = 2;
        switch (variant)
        {
            case "odd-dims":
                cfg["swa_num_key_value_heads"] = 3;
                cfg["swa_head_dim"] = 28;
                cfg["swa_v_head_dim"] = 14;
                cfg["num_key_value_heads"] = 2;
                cfg["partial_rotary_factor"] = 0.5;
                break;
            case "no-sinks-full-rope":
                cfg["add_swa_attention_sink_bias"] = false;
                cfg["partial_rotary_factor"] = 1.0;
                cfg["attention_value_scale"] = null;
                cfg["add_full_attention_sink_bias"] = true;
                break;
            case "grouped-router":
                cfg["n_group"] = 4;
                cfg["topk_group"] = 2;
                cfg["norm_topk_prob"] = false;
                cfg["routed_scaling_factor"] = 2.5;
                break;
            case "one-layer":
                cfg["num_hidden_layers"] = 1;
                cfg["hybrid_layer_pattern"] = new JsonArray(1);
                cfg["moe_layer_freq"] = new JsonArray(1);
                mtp = 1;
                break;
        }
        SyntheticCheckpoint.Write(_dir, cfg, mtpLayers: mtp, seed: 3, dtype: DType.F32);
        using var model = MimoModel.Load(_dir);
        Assert.Equal(mtp, model.MtpLayers.Count);

        int[] ids = Enumerable.Range(0, 23).Select(i => (i * 89 + 7) % 300).ToArray();
        var full = TeacherForcing.Run(model, ids);
        var stepwise = TeacherForcing.Run(model, ids, chunk: 1);
        Assert.Equal(full.Logits, stepwise.Logits);
        for (int k = 0; k < mtp; k++) Assert.Equal(full.MtpLogits[k], stepwise.MtpLogits[k]);
        Assert.All(full.Logits, x => Assert.True(float.IsFinite(x)));

        var plain = new Generator(model, new GenerationOptions { MaxTokens = 30 }).Generate(ids[..4]).ToArray();
        for (int k = 1; k <= mtp; k++)
            Assert.Equal(plain, new Generator(model, new GenerationOptions { MaxTokens = 30, Speculative = k }).Generate(ids[..4]).ToArray());
    }
}

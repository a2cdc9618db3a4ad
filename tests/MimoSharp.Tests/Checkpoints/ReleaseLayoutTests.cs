using System.Text.Json.Nodes;
using MimoSharp.Checkpoints;
using MimoSharp.Inference;
using MimoSharp.Model;
using MimoSharp.Tests.Support;

namespace MimoSharp.Tests.Checkpoints;

/// <summary>
/// The public FP8 release's layout: a release-shaped checkpoint (<see cref="SyntheticRelease"/>) computes what the same
/// weights dequantised to F32 compute, and a K/V scale that fits neither layout is refused naming both shapes.
/// </summary>
public sealed class ReleaseLayoutTests : IDisposable
{
    private readonly TempFolder _folder = new("mimo-release-");
    private string Dir => _folder.Path;

    public void Dispose() => _folder.Dispose();

    [Fact]
    public void AReleaseShapedCheckpointComputesWhatItsDequantisedTwinDoes()
    {
        string fp8 = Path.Combine(Dir, "fp8"), twin = Path.Combine(Dir, "f32");
        var config = SyntheticRelease.Config(layers: 2, experts: 8, vocab: 512, hidden: 256, intermediate: 512, moeIntermediate: 128, heads: 8);
        SyntheticRelease.Write(fp8, config, mtpLayers: 1, seed: 7, shardBytes: 1 << 20, dequantisedTwin: twin);

        // The release's files: several shards with an index, the release's quantization_config, no MTP-count key.
        Assert.True(Directory.GetFiles(fp8, "model-*-of-*.safetensors").Length > 1);
        Assert.True(File.Exists(Path.Combine(fp8, Checkpoint.IndexFileName)));
        var json = JsonNode.Parse(File.ReadAllText(Path.Combine(fp8, "config.json")))!.AsObject();
        Assert.Equal("fp8", (string?)json["quantization_config"]!["quant_method"]);
        Assert.Contains("model.layers.0.self_attn.o_proj", json["quantization_config"]!["ignored_layers"]!.AsArray().Select(n => (string?)n));
        Assert.False(json.ContainsKey("num_nextn_predict_layers"));

        using var quantised = MimoModel.Load(fp8);
        using var dequantised = MimoModel.Load(twin);
        Assert.Single(quantised.MtpLayers);
        var layouts = ModelSummary.Of(quantised).KeyValueScaleLayouts;
        Assert.Equal(Fp8ScaleLayout.PerHeadFusedKv, layouts["model.layers.0"]); // the full-attention layer
        Assert.Equal(Fp8ScaleLayout.Grid, layouts["model.layers.1"]);
        Assert.Equal(Fp8ScaleLayout.Grid, layouts["model.mtp.layers.0"]);
        Assert.Equal(Fp8ScaleLayout.None, ModelSummary.Of(dequantised).KeyValueScaleLayouts["model.layers.0"]);

        int[] ids = Enumerable.Range(0, 20).Select(i => (i * 37 + 11) % 512).ToArray();
        var a = TeacherForcing.Run(quantised, ids);
        var b = TeacherForcing.Run(dequantised, ids);
        double scale = b.Logits.Max(MathF.Abs);
        // Same weights, only the order of the sums differs: a scale read from a wrong block would move logits by ~50%.
        Assert.InRange(Fixtures.MaxAbsDiff(a.Logits, b.Logits.Select(f => (double)f).ToArray()), 0, 1e-4 * scale);
        Assert.InRange(Fixtures.MaxAbsDiff(a.MtpLogits[0], b.MtpLogits[0].Select(f => (double)f).ToArray()), 0, 1e-4 * scale);
    }

    private void CopyRelease() => Fixtures.CopyCheckpoint("tiny_fp8_release", Dir);

    /// <summary>Gives one scale tensor of the copy <paramref name="rows"/> rows (repeating its last row or cutting).</summary>
    private void ResizeScale(string name, int rows)
    {
        string shard = Path.Combine(Dir, JsonNode.Parse(File.ReadAllText(Path.Combine(Dir, Checkpoint.IndexFileName)))!["weight_map"]![name]!.GetValue<string>());
        var w = new SafetensorsWriter();
        using (var st = SafetensorsFile.Open(shard))
            foreach (var t in st.Tensors.Values)
            {
                if (t.Name != name)
                {
                    w.Add(t.Name, t.DType, t.Shape, t.Bytes.ToArray());
                    continue;
                }
                var values = t.ToFloat32();
                int cols = (int)t.Shape[1];
                var resized = new float[rows * cols];
                for (int i = 0; i < resized.Length; i++) resized[i] = values[Math.Min(i, values.Length - cols + i % cols)];
                w.AddF32(name, [rows, cols], resized);
            }
        w.Write(shard);
    }

    private string LoadError() => Assert.ThrowsAny<Exception>(() => MimoModel.Load(Dir).Dispose()).Message;

    [Theory]
    [InlineData("model.layers.5.self_attn.k_proj.weight_scale_inv", 7)]   // a full-attention layer
    [InlineData("model.layers.2.self_attn.k_proj.weight_scale_inv", 13)]  // a sliding-window layer
    [InlineData("model.mtp.layers.1.self_attn.k_proj.weight_scale_inv", 10)]
    public void AKeyScaleFittingNeitherLayoutNamesTheTensorItsShapeAndBothLayouts(string name, int rows)
    {
        CopyRelease();
        ResizeScale(name, rows);
        string msg = LoadError();
        Assert.Contains(name, msg);
        Assert.Contains($"[{rows}, 2]", msg);
        // 4 KV heads of 192 (full) or 8 (SWA): the grid needs ceil(heads·192/128) rows, the fused layout heads·2.
        var (grid, fused) = name.Contains("layers.5") ? (6, 8) : (12, 16);
        Assert.Contains($"[{grid}, 2]", msg);
        Assert.Contains($"[{fused}, 2]", msg);
    }

    [Fact]
    public void AValueScaleThatDoesNotMatchTheFusedKeyScaleIsNamed()
    {
        CopyRelease();
        ResizeScale("model.layers.0.self_attn.v_proj.weight_scale_inv", 3);
        string msg = LoadError();
        Assert.Contains("model.layers.0.self_attn.v_proj.weight_scale_inv", msg);
        Assert.Contains("[3, 2]", msg);
        Assert.Contains("expected [4, 2]", msg);
    }

    [Fact]
    public void AnFp8TensorListedAsUnquantisedIsAContradiction()
    {
        CopyRelease();
        string path = Path.Combine(Dir, "config.json");
        var cfg = JsonNode.Parse(File.ReadAllText(path))!.AsObject();
        cfg["quantization_config"]!["ignored_layers"]!.AsArray().Add("model.layers.3.self_attn.q_proj");
        File.WriteAllText(path, cfg.ToJsonString());
        string msg = LoadError();
        Assert.Contains("model.layers.3.self_attn.q_proj.weight", msg);
        Assert.Contains("ignored_layers", msg);
    }

    [Theory]
    [InlineData("activation_scheme", "\"static\"")]
    [InlineData("fmt", "\"e5m2\"")]
    [InlineData("quant_method", "\"awq\"")]
    [InlineData("weight_block_size", "[128]")]
    public void AQuantizationConfigThatChangesTheNumbersIsRefusedNamingTheKey(string key, string json)
    {
        CopyRelease();
        string path = Path.Combine(Dir, "config.json");
        var cfg = JsonNode.Parse(File.ReadAllText(path))!.AsObject();
        cfg["quantization_config"]![key] = JsonNode.Parse(json);
        File.WriteAllText(path, cfg.ToJsonString());
        Assert.Contains(key, LoadError());
    }
}

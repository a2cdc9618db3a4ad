using System.Text;
using System.Text.Json.Nodes;
using MimoSharp.Checkpoints;
using MimoSharp.Config;
using MimoSharp.Model;
using MimoSharp.Tests.Support;

namespace MimoSharp.Tests.Checkpoints;

/// <summary>Every broken checkpoint gets an error that names the file, tensor or key at fault.</summary>
public sealed class BadInputTests : IDisposable
{
    private readonly TempFolder _folder = new("mimo-bad-");
    private string Dir => _folder.Path;

    public void Dispose() => _folder.Dispose();

    private string Copy(string fixture) => Fixtures.CopyCheckpoint(fixture, Dir);

    /// <summary>Rewrites one safetensors file of the copy, letting <paramref name="edit"/> drop or replace tensors.</summary>
    private void Rewrite(string file, Func<TensorInfo, (string Name, DType DType, long[] Shape, byte[] Data)?> edit)
    {
        string path = Path.Combine(Dir, file);
        var w = new SafetensorsWriter();
        using (var st = SafetensorsFile.Open(path))
            foreach (var t in st.Tensors.Values)
                if (edit(t) is { } e) w.Add(e.Name, e.DType, e.Shape, e.Data);
        w.Write(path);
    }

    private void EditConfig(Action<JsonObject> edit)
    {
        string path = Path.Combine(Dir, "config.json");
        var obj = JsonNode.Parse(File.ReadAllText(path))!.AsObject();
        edit(obj);
        File.WriteAllText(path, obj.ToJsonString());
    }

    private static string LoadError(string dir) => Assert.ThrowsAny<Exception>(() => MimoModel.Load(dir).Dispose()).Message;

    [Fact]
    public void MissingFolderAndMissingWeights()
    {
        Assert.Contains("model folder not found", LoadError(Path.Combine(Dir, "nope")));
        Copy("tiny_f32");
        File.Delete(Path.Combine(Dir, "model.safetensors"));
        Assert.Contains("no model.safetensors", LoadError(Dir));
    }

    [Fact]
    public void TruncatedFileNamesTheFileAndTensor()
    {
        Copy("tiny_f32");
        string path = Path.Combine(Dir, "model.safetensors");
        var bytes = File.ReadAllBytes(path);
        File.WriteAllBytes(path, bytes[..(bytes.Length / 2)]);
        var msg = LoadError(Dir);
        Assert.Contains("model.safetensors", msg);
        Assert.Contains("run past the end", msg);
        File.WriteAllBytes(path, bytes[..5]);
        Assert.Contains("too short", LoadError(Dir));
        File.WriteAllBytes(path, bytes[..100]);
        Assert.Contains("header length", LoadError(Dir));
    }

    [Fact]
    public void CorruptHeaderAndOverlappingOffsets()
    {
        Copy("tiny_f32");
        string path = Path.Combine(Dir, "model.safetensors");
        WriteRaw(path, "{not json", 16);
        Assert.Contains("not valid JSON", LoadError(Dir));
        WriteRaw(path, """{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}""", 12);
        Assert.Contains("overlap", LoadError(Dir));
        WriteRaw(path, """{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}""", 8);
        Assert.Contains("needs 12 bytes", LoadError(Dir));
        WriteRaw(path, """{"a":{"dtype":"Q9","shape":[2],"data_offsets":[0,8]}}""", 8);
        Assert.Contains("unsupported dtype Q9", LoadError(Dir));
    }

    private static void WriteRaw(string path, string header, int dataBytes)
    {
        var h = Encoding.UTF8.GetBytes(header);
        using var f = File.Create(path);
        f.Write(BitConverter.GetBytes((ulong)h.Length));
        f.Write(h);
        f.Write(new byte[dataBytes]);
    }

    [Fact]
    public void MissingTensorIsNamed()
    {
        Copy("tiny_f32");
        Rewrite("model.safetensors", t => t.Name == "model.layers.3.self_attn.k_proj.weight" ? null : (t.Name, t.DType, t.Shape, t.Bytes.ToArray()));
        var msg = LoadError(Dir);
        Assert.Contains("model.layers.3.self_attn.k_proj.weight", msg);
        Assert.Contains("missing", msg);
    }

    [Fact]
    public void WrongShapeAndDtypeAreNamed()
    {
        Copy("tiny_f32");
        Rewrite("model.safetensors", t => t.Name == "model.layers.2.self_attn.q_proj.weight"
            ? (t.Name, t.DType, [t.Shape[1], t.Shape[0]], t.Bytes.ToArray())
            : (t.Name, t.DType, t.Shape, t.Bytes.ToArray()));
        var msg = LoadError(Dir);
        Assert.Contains("model.layers.2.self_attn.q_proj.weight", msg);
        Assert.Contains("expected [", msg);

        // Swap the shape back so that only the dtype is wrong.
        Rewrite("model.safetensors", t => t.Name == "model.layers.2.self_attn.q_proj.weight"
            ? (t.Name, DType.I32, [t.Shape[1], t.Shape[0]], t.Bytes.ToArray())
            : (t.Name, t.DType, t.Shape, t.Bytes.ToArray()));
        msg = LoadError(Dir);
        Assert.Contains("dtype I32", msg);
    }

    [Fact]
    public void Fp8WeightWithoutScaleIsNamed()
    {
        Copy("tiny_fp8");
        string victim = "model.layers.1.self_attn.q_proj.weight_scale_inv";
        foreach (var shard in new[] { "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors" })
            Rewrite(shard, t => t.Name == victim ? null : (t.Name, t.DType, t.Shape, t.Bytes.ToArray()));
        EditIndex(map => map.Remove(victim));
        var msg = LoadError(Dir);
        Assert.Contains("model.layers.1.self_attn.q_proj.weight", msg);
        Assert.Contains("_scale_inv is missing", msg);
    }

    [Fact]
    public void IndexPointingToAMissingShard()
    {
        Copy("tiny_fp8");
        File.Delete(Path.Combine(Dir, "model-00002-of-00002.safetensors"));
        Assert.Contains("model-00002-of-00002.safetensors", LoadError(Dir));
        Copy("tiny_fp8");
        EditIndex(map => map["model.norm.weight"] = "model-00001-of-00002.safetensors");
        var shardOfNorm = LoadError(Dir);
        Assert.Contains("model.norm.weight", shardOfNorm);
    }

    private void EditIndex(Action<JsonObject> edit)
    {
        string path = Path.Combine(Dir, Checkpoint.IndexFileName);
        var obj = JsonNode.Parse(File.ReadAllText(path))!.AsObject();
        edit(obj["weight_map"]!.AsObject());
        File.WriteAllText(path, obj.ToJsonString());
    }

    [Theory]
    [InlineData("hidden_size", 96, "hidden_size")]
    [InlineData("num_hidden_layers", 5, "num_hidden_layers")]
    [InlineData("n_group", 5, "n_group")]
    [InlineData("topk_group", 4, "topk_group")]
    [InlineData("num_experts_per_tok", 13, "num_experts_per_tok")]
    [InlineData("partial_rotary_factor", 0.125, "partial_rotary_factor")]
    [InlineData("num_key_value_heads", 3, "num_key_value_heads")]
    [InlineData("sliding_window_size", 7, "sliding_window_size")]
    public void ConfigThatContradictsItselfOrTheTensorsNamesTheKey(string key, double value, string expected)
    {
        Copy("tiny_f32");
        EditConfig(c => c[key] = value == Math.Floor(value) ? JsonValue.Create((int)value) : JsonValue.Create(value));
        var e = Assert.IsType<MimoConfigException>(Assert.ThrowsAny<Exception>(() => MimoModel.Load(Dir).Dispose()));
        Assert.Contains(expected, e.Message);
    }

    [Theory]
    [InlineData("scoring_func", "\"softmax\"")]
    [InlineData("topk_method", "\"greedy\"")]
    [InlineData("hidden_act", "\"gelu\"")]
    [InlineData("rope_scaling", "{\"type\":\"yarn\",\"factor\":4}")]
    [InlineData("n_shared_experts", "1")]
    [InlineData("attention_bias", "true")]
    public void ConfigValuesThatChangeTheEquationsAreRefusedNamingTheKey(string key, string json)
    {
        Copy("tiny_f32");
        EditConfig(c => c[key] = JsonNode.Parse(json));
        var e = Assert.Throws<MimoConfigException>(() => MimoModel.Load(Dir).Dispose());
        Assert.Equal(key, e.Key);
        Assert.Contains(key, e.Message);
    }

    [Fact]
    public void LayerPatternsThatContradictTheTensors()
    {
        Copy("tiny_f32");
        EditConfig(c => c["moe_layer_freq"] = new JsonArray(1, 1, 1, 1, 1, 1, 1));
        Assert.Contains("moe_layer_freq", LoadError(Dir));
        EditConfig(c => c["moe_layer_freq"] = new JsonArray(0, 1, 1));
        Assert.Contains("moe_layer_freq has 3 entries", LoadError(Dir));
        EditConfig(c =>
        {
            c["moe_layer_freq"] = new JsonArray(0, 1, 1, 1, 1, 1, 1);
            c["add_swa_attention_sink_bias"] = false;
        });
        Assert.Contains("add_swa_attention_sink_bias", LoadError(Dir));
        EditConfig(c =>
        {
            c["add_swa_attention_sink_bias"] = true;
            c["quantization_config"] = new JsonObject { ["quant_method"] = "awq" };
        });
        Assert.Contains("quant_method", LoadError(Dir));
        File.WriteAllText(Path.Combine(Dir, "config.json"), "{ \"vocab_size\": ");
        Assert.Contains("config.json is not valid JSON", LoadError(Dir));
    }

    [Fact]
    public void AbsentKeysTakeTheSpecDefaults()
    {
        var cfg = MimoConfig.Parse(new JsonObject
        {
            ["vocab_size"] = 10,
            ["hidden_size"] = 8,
            ["intermediate_size"] = 16,
            ["moe_intermediate_size"] = 4,
            ["num_hidden_layers"] = 12,
            ["num_attention_heads"] = 2,
            ["head_dim"] = 4,
            ["sliding_window"] = 4,
            ["n_routed_experts"] = 4,
            ["num_experts_per_tok"] = 2,
        });
        bool[] globalLayers = cfg.IsSlidingWindowLayer.Select(x => !x).ToArray();
        Assert.Equal([true, false, false, false, false, true, false, false, false, false, false, true], globalLayers);
        Assert.Equal([false, true, true, true, true, true, true, true, true, true, true, true], cfg.IsMoeLayer);
        Assert.Equal(cfg.Global.NumHeads, cfg.Swa.NumHeads);
        Assert.Equal(1.0, cfg.RoutedScalingFactor);
        Assert.Equal(1.0, cfg.AttentionValueScale);
    }
}

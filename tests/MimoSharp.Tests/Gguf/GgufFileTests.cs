using MimoSharp.Checkpoints;
using MimoSharp.Model;
using MimoSharp.Tests.Support;

namespace MimoSharp.Tests.Gguf;

/// <summary>The GGUF container, the mimo2 names llama.cpp expects, other spellings we accept, bad files and the CLI.</summary>
public sealed class GgufFileTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), $"mimo-gguf-file-{Guid.NewGuid():N}");

    public GgufFileTests() => Directory.CreateDirectory(_dir);

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void MetadataOfEveryTypeRoundTrips()
    {
        string path = Path.Combine(_dir, "kv.gguf");
        new GgufWriter()
            .AddString("s", "héllo")
            .AddUInt32("u", 4_000_000_000)
            .Add("i", GgufValueType.Int32, -5)
            .AddFloat32("f", 0.707)
            .AddBool("b", true)
            .Add("d", GgufValueType.Float64, 1e-300)
            .Add("l", GgufValueType.Int64, -1L << 40)
            .AddArray("ai", GgufValueType.Int32, new[] { 1, 0, 1 })
            .AddArray("as", GgufValueType.String, new[] { "a", "", "ü" })
            .AddTensor("t", [3, 2], GgmlType.F32, s => s.Write(new byte[24]))
            .Write(path);
        using var f = GgufFile.Open(path);
        Assert.Equal("héllo", f.String("s"));
        Assert.Equal(4_000_000_000, f.Int("u"));
        Assert.Equal(-5, f.Int("i"));
        Assert.Equal(0.707, f.Float("f")!.Value, 6);
        Assert.True(f.Bool("b"));
        Assert.Equal(1e-300, f.Float("d"));
        Assert.Equal(-1L << 40, f.Int("l"));
        Assert.Equal([1L, 0, 1], f.IntPerLayer("ai", 3)!);
        Assert.Equal(["a", "", "ü"], (string[])f.Array("as")!.Items);
        Assert.Equal([3L, 2], f.Tensors["t"].Dims);
        Assert.Equal(0, f.Tensors["t"].Offset % 32);
    }

    [Fact]
    public void ExportUsesLlamaCppsMimo2NamesAndKeys()
    {
        string gguf = GgufRoundTripTests.Export(Fixtures.Dir("tiny_bf16"), Path.Combine(_dir, "m.gguf"), null);
        using var f = GgufFile.Open(gguf);
        Assert.Equal("mimo2", f.String("general.architecture"));
        Assert.Equal(8, f.Int("mimo2.block_count"));            // 6 main layers + 2 MTP blocks
        Assert.Equal(2, f.Int("mimo2.nextn_predict_layers"));
        Assert.Equal([1L, 2, 2, 2, 2, 1, 2, 2], f.IntPerLayer("mimo2.attention.head_count_kv", 8)!);
        Assert.Equal([0L, 1, 1, 1, 1, 0, 1, 1], f.IntPerLayer("mimo2.attention.sliding_window_pattern", 8)!);
        Assert.Equal(16, f.Int("mimo2.rope.dimension_count"));   // int(48 × 0.334)
        Assert.Equal(10000.0, f.Float("mimo2.rope.freq_base_swa"));
        Assert.Equal(5000000.0, f.Float("mimo2.rope.freq_base"));
        Assert.Equal(0.707, f.Float("mimo2.attention.value_scale")!.Value, 6);
        Assert.Equal(8, f.Int("mimo2.attention.sliding_window"));
        Assert.Equal(4, f.Int("mimo2.expert_group_count"));
        Assert.Equal(384, f.Array("tokenizer.ggml.tokens")!.Count);
        foreach (var name in new[]
                 {
                     "token_embd.weight", "output_norm.weight", "output.weight", "blk.0.ffn_gate.weight", "blk.0.attn_q.weight",
                     "blk.1.attn_sinks.weight", "blk.1.ffn_gate_inp.weight", "blk.1.exp_probs_b.bias", "blk.1.ffn_gate_exps.weight",
                     "blk.6.nextn.eh_proj.weight", "blk.6.nextn.enorm.weight", "blk.6.nextn.hnorm.weight",
                     "blk.6.nextn.shared_head_norm.weight", "blk.6.ffn_norm.weight", "blk.7.attn_q.weight",
                 })
            Assert.True(f.Tensors.ContainsKey(name), name);
        Assert.False(f.Tensors.ContainsKey("blk.0.attn_sinks.weight")); // global layer: no sinks
        Assert.Equal([128L, 32, 16], f.Tensors["blk.1.ffn_gate_exps.weight"].Dims); // [H, moe_I, experts]
        Assert.Equal([256L, 128], f.Tensors["blk.6.nextn.eh_proj.weight"].Dims);   // [2H, H]
    }

    [Fact]
    public void EveryNameOfTheTableMapsToLlamaCppsAndBackInTheBlocksThatHoldIt()
    {
        const int layers = 4;   // blocks 0..3 are main layers, 4.. MTP layers
        foreach (var n in GgufMimo2.GlobalNames)
        {
            Assert.Equal(n.Gguf, GgufMimo2.ToGguf(n.Hub, layers));
            Assert.Equal(n.Hub, GgufMimo2.ToHub(n.Gguf, layers));
        }
        foreach (var n in GgufMimo2.BlockNames.Where(n => n.Kind != GgufMimo2.Kind.Experts))
        {
            foreach (var (hub, block, holds) in new[]
            {
                ($"model.layers.2.{n.Hub}", 2, (n.In & GgufMimo2.Blocks.MainLayers) != 0),
                ($"model.mtp.layers.1.{n.Hub}", layers + 1, (n.In & GgufMimo2.Blocks.Mtp) != 0),
            })
            {
                string? gguf = GgufMimo2.ToGguf(hub, layers);
                if (!holds)
                {
                    Assert.True(gguf is null || GgufMimo2.ToHub(gguf, layers) != hub, $"{hub} is not a tensor of block {block}");
                    continue;
                }
                Assert.Equal($"blk.{block}.{n.Gguf}", gguf);
                Assert.Equal(hub, GgufMimo2.ToHub(gguf!, layers));
            }
        }
        Assert.Equal("model.mtp.layers.0.final_layernorm.weight", GgufMimo2.ToHub("blk.4.layer_output_norm.weight", layers));
        Assert.Equal("mlp.experts.7.up_proj.weight", GgufMimo2.Experts("ffn_up_exps.weight")!.OfExpert(7));
        Assert.Null(GgufMimo2.ToGguf("model.layers.0.mlp.experts.0.up_proj.weight", layers));
    }

    /// <summary>Files of other converters: fused attn_qkv rows and the MTP head norm as layer_output_norm.</summary>
    [Fact]
    public void FusedQkvAndLayerOutputNormAreRead()
    {
        string gguf = GgufRoundTripTests.Export(Fixtures.Dir("tiny_bf16"), Path.Combine(_dir, "m.gguf"), null);
        string fused = Path.Combine(_dir, "fused.gguf");
        using (var f = GgufFile.Open(gguf))
        {
            var w = new GgufWriter();
            foreach (var (key, value) in f.Metadata)
                w.Add(key, TypeOf(key, value), value is double d && key.EndsWith("epsilon") ? (float)d : value);
            foreach (var t in f.TensorList)
            {
                if (t.Name.EndsWith("attn_k.weight") || t.Name.EndsWith("attn_v.weight")) continue;
                string prefix = t.Name[..(t.Name.LastIndexOf('.', t.Name.Length - 8) + 1)];
                if (t.Name.EndsWith("attn_q.weight"))
                {
                    var parts = new[] { "attn_q", "attn_k", "attn_v" }.Select(p => f.Tensors[prefix + p + ".weight"]).ToArray();
                    byte[] data = parts.SelectMany(p => f.Bytes(p).ToArray()).ToArray();
                    w.AddTensor(prefix + "attn_qkv.weight", [t.Dims[0], parts.Sum(p => p.Dims[1])], t.Type, s => s.Write(data));
                    continue;
                }
                byte[] bytes = f.Bytes(t).ToArray();
                w.AddTensor(t.Name.Replace("nextn.shared_head_norm", "layer_output_norm"), t.Dims, t.Type, s => s.Write(bytes));
            }
            w.Write(fused);
        }
        int[] ids = [1, 5, 9, 200, 33, 7, 7, 100, 3, 250];
        using var a = MimoModel.Load(gguf);
        using var b = MimoModel.Load(fused);
        var x = MimoSharp.Inference.TeacherForcing.Run(a, ids);
        var y = MimoSharp.Inference.TeacherForcing.Run(b, ids);
        Assert.Equal(x.Logits, y.Logits);
        Assert.Equal(x.MtpLogits[1], y.MtpLogits[1]);
    }

    internal static GgufValueType TypeOf(string key, object value) => value switch
    {
        string => GgufValueType.String,
        bool => GgufValueType.Bool,
        double => GgufValueType.Float32,
        GgufArray => GgufValueType.Array,
        long l when l < 0 => GgufValueType.Int32,
        _ => GgufValueType.UInt32,
    };

    [Fact]
    public void BadFilesAreErrorsThatNameTheProblem()
    {
        string gguf = GgufRoundTripTests.Export(Fixtures.Dir("tiny_bf16"), Path.Combine(_dir, "m.gguf"), GgmlType.Q8_0);
        byte[] bytes = File.ReadAllBytes(gguf);

        string truncated = Path.Combine(_dir, "truncated.gguf");
        File.WriteAllBytes(truncated, bytes[..(bytes.Length - 1000)]);
        var e = Assert.Throws<CheckpointException>(() => MimoModel.Load(truncated).Dispose());
        Assert.Contains("truncated", e.Message);

        string header = Path.Combine(_dir, "header.gguf");
        File.WriteAllBytes(header, bytes[..200]);
        Assert.Contains("runs past the end", Assert.Throws<CheckpointException>(() => GgufFile.Open(header).Dispose()).Message);

        // Lying size fields found in review: an alignment of the wrong type, dimensions whose product overflows.
        string alignment = Path.Combine(_dir, "alignment.gguf");
        new GgufWriter().AddString("general.alignment", "32").Write(alignment);
        Assert.Contains("general.alignment", Assert.Throws<CheckpointException>(() => GgufFile.Open(alignment).Dispose()).Message);
        string huge = Path.Combine(_dir, "huge.gguf");
        new GgufWriter().AddTensor("t", [32, 1L << 30, 1L << 30, 1L << 30], GgmlType.F32, _ => { }).Write(huge);
        Assert.Contains("more than the", Assert.Throws<CheckpointException>(() => GgufFile.Open(huge).Dispose()).Message);

        string other = Path.Combine(_dir, "llama.gguf");
        new GgufWriter().AddString("general.architecture", "llama").Write(other);
        Assert.Contains("\"llama\", expected \"mimo2\"", Assert.Throws<CheckpointException>(() => MimoModel.Load(other).Dispose()).Message);

        string q6 = Path.Combine(_dir, "q6.gguf");
        using (var f = GgufFile.Open(gguf))
        {
            var w = new GgufWriter();
            foreach (var (key, value) in f.Metadata) w.Add(key, TypeOf(key, value), value);
            foreach (var t in f.TensorList)
            {
                bool retype = t.Name == "blk.0.ffn_down.weight";
                byte[] data = retype ? new byte[MimoSharp.Checkpoints.Gguf.RowBytes(GgmlType.Q4_0, t.Dims[0]) * t.Dims[1]] : f.Bytes(t).ToArray();
                w.AddTensor(t.Name, t.Dims, retype ? GgmlType.Q4_0 : t.Type, s => s.Write(data));
            }
            w.Write(q6);
        }
        var q6Error = Assert.Throws<CheckpointException>(() => MimoModel.Load(q6).Dispose());
        Assert.Contains("blk.0.ffn_down.weight is Q4_0", q6Error.Message);
    }

    [Fact]
    public void ConvertCommandWritesAFileThatLogitsAndInspectRead()
    {
        string output = Path.Combine(_dir, "cli.gguf");
        var r = MimoProcess.Run("convert", "--model", Fixtures.Dir("tiny_bf16"), "--to", "gguf", "--quant", "q8_0", "--out", output, "--json");
        Assert.True(r.ExitCode == 0, r.Stderr);
        using (var doc = System.Text.Json.JsonDocument.Parse(r.Stdout))
        {
            Assert.Equal("mimo2", doc.RootElement.GetProperty("architecture").GetString());
            Assert.Equal(2, doc.RootElement.GetProperty("mtp_layers").GetInt32());
        }
        var logits = MimoProcess.Run("logits", "--model", output, "--tokens", "1,2,3", "--out", Path.Combine(_dir, "l.safetensors"));
        Assert.True(logits.ExitCode == 0, logits.Stderr);
        var inspect = MimoProcess.Run("inspect", "--model", output, "--json");
        Assert.True(inspect.ExitCode == 0, inspect.Stderr);
        Assert.Contains("\"mtp_layers\":2", inspect.Stdout);

        var bad = MimoProcess.Run("convert", "--model", Fixtures.Dir("tiny_bf16"), "--to", "gguf", "--quant", "q3_k", "--out", output);
        Assert.Equal(1, bad.ExitCode);
        Assert.Contains("Argument 'q3_k' not recognized", bad.Stderr);   // System.CommandLine's error, listing the types
        foreach (var type in new[] { "auto", "f32", "f16", "bf16", "q8_0", "q4_k" }) Assert.Contains($"'{type}'", bad.Stderr);
    }
}

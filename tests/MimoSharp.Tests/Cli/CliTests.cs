using System.Text.Json;
using MimoSharp.Checkpoints;
using MimoSharp.Tests.Support;

namespace MimoSharp.Tests.Cli;

public sealed class CliTests
{
    [Theory]
    [InlineData("tiny_bf16")]
    [InlineData("tiny_fp8")]
    [InlineData("tiny_f32")]
    public void LogitsCommandWritesTheFixtureTensors(string fixture)
    {
        var expected = Fixtures.Expected(fixture);
        double tol = expected.GetProperty("tolerances").GetProperty("logits_max_abs").GetDouble();
        int[] ids = Fixtures.Ints(expected.GetProperty("input_ids"));
        string output = Path.Combine(Path.GetTempPath(), $"mimo-logits-{Guid.NewGuid():N}.safetensors");
        try
        {
            var r = MimoProcess.Run("logits", "--model", Fixtures.Dir(fixture), "--tokens", string.Join(',', ids), "--out", output);
            Assert.True(r.ExitCode == 0, r.Stderr);
            using var got = SafetensorsFile.Open(output);
            using var want = Fixtures.ExpectedTensors(fixture);
            int depths = expected.GetProperty("num_mtp_layers").GetInt32();
            var names = new List<string> { "logits", "hidden_prenorm" };
            for (int k = 0; k < depths; k++) names.Add($"mtp.{k}.logits");
            foreach (var name in names)
            {
                Assert.Equal(DType.F32, got.Tensors[name].DType);
                Assert.Equal(want.Tensors[name].Shape, got.Tensors[name].Shape);
                Assert.InRange(Fixtures.MaxAbsDiff(got.Tensors[name].ToFloat32(), want.Tensors[name].ToFloat64()), 0, tol);
            }
        }
        finally
        {
            File.Delete(output);
        }
    }

    [Fact]
    public void GenerateJsonIsTheOnlyThingOnStdout()
    {
        var greedy = Fixtures.Expected("tiny_bf16").GetProperty("greedy");
        var prompt = string.Join(',', Fixtures.Ints(greedy.GetProperty("prompt_ids")));
        var r = MimoProcess.Run("generate", "--model", Fixtures.Dir("tiny_bf16"), "--tokens", prompt, "--max-tokens", "16", "--speculative", "2", "--json");
        Assert.True(r.ExitCode == 0, r.Stderr);
        using var doc = JsonDocument.Parse(r.Stdout);
        var root = doc.RootElement;
        Assert.Equal(Fixtures.Ints(greedy.GetProperty("generated_ids")), Fixtures.Ints(root.GetProperty("generated_ids")));
        Assert.True(root.GetProperty("prefill_tokens_per_s").GetDouble() > 0);
        Assert.True(root.GetProperty("decode_tokens_per_s").GetDouble() > 0);
        var spec = root.GetProperty("speculative");
        Assert.Equal(2, spec.GetProperty("k").GetInt32());
        Assert.Equal(2, spec.GetProperty("accepted_per_depth").GetArrayLength());
        Assert.InRange(spec.GetProperty("acceptance_length").GetDouble(), 1.0, 3.0);
    }

    [Fact]
    public void SeededSamplingWithDefaultSpeculationIsReproducible()
    {
        string[] args = ["generate", "--model", Fixtures.Dir("tiny_fp8"), "--tokens", "5,6,7", "--max-tokens", "24",
            "--temperature", "0.9", "--seed", "11", "--json"];
        var a = MimoProcess.Run(args);
        var b = MimoProcess.Run(args);
        Assert.True(a.ExitCode == 0, a.Stderr);
        var ra = JsonDocument.Parse(a.Stdout).RootElement;
        Assert.Equal(Fixtures.Ints(ra.GetProperty("generated_ids")), Fixtures.Ints(JsonDocument.Parse(b.Stdout).RootElement.GetProperty("generated_ids")));
        Assert.False(ra.GetProperty("speculative").GetProperty("adaptive").GetBoolean());
        Assert.Equal(3, ra.GetProperty("speculative").GetProperty("k").GetInt32());
    }

    [Fact]
    public void InspectReportsCountsAndKvCost()
    {
        var r = MimoProcess.Run("inspect", "--model", Fixtures.Dir("tiny_fp8"), "--json");
        Assert.True(r.ExitCode == 0, r.Stderr);
        var root = JsonDocument.Parse(r.Stdout).RootElement;
        Assert.Equal(3, root.GetProperty("mtp_layers").GetInt32());
        long total = root.GetProperty("parameters_total").GetInt64();
        long main = root.GetProperty("parameters_main").GetInt64();
        long active = root.GetProperty("parameters_active_per_token").GetInt64();
        Assert.Equal(total, main + root.GetProperty("parameters_mtp").GetInt64());
        Assert.InRange(active, 1, main - 1);
        // tiny_fp8: 2 global layers, 1 KV head, head dims 48 (K) + 32 (V), float32 cache.
        Assert.Equal(2 * (48 + 32) * 4, root.GetProperty("kv_cache_bytes_per_token").GetInt64());
        long window = root.GetProperty("kv_cache_sliding_window_bytes").GetInt64();
        Assert.Equal(2 * (48 + 32) * 4 * 32768L + window, root.GetProperty("kv_cache_bytes_32k").GetInt64());

        // A 16-bit cache halves both; a dtype that does not exist is refused by name.
        var half = MimoProcess.Run("inspect", "--model", Fixtures.Dir("tiny_fp8"), "--kv-cache", "f16", "--json");
        Assert.True(half.ExitCode == 0, half.Stderr);
        var h = JsonDocument.Parse(half.Stdout).RootElement;
        Assert.Equal("f16", h.GetProperty("kv_cache_dtype").GetString());
        Assert.Equal(2 * (48 + 32) * 2, h.GetProperty("kv_cache_bytes_per_token").GetInt64());
        Assert.Equal(window / 2, h.GetProperty("kv_cache_sliding_window_bytes").GetInt64());
        var bad = MimoProcess.Run("inspect", "--model", Fixtures.Dir("tiny_fp8"), "--kv-cache", "f8");
        Assert.NotEqual(0, bad.ExitCode);
        Assert.Contains("'f8'", bad.Stderr + bad.Stdout);
    }

    [Fact]
    public void InspectReportsEachLayersFp8KeyValueScaleLayout()
    {
        var r = MimoProcess.Run("inspect", "--model", Fixtures.Dir("tiny_fp8_release"), "--json");
        Assert.True(r.ExitCode == 0, r.Stderr);
        var layouts = JsonDocument.Parse(r.Stdout).RootElement.GetProperty("fp8_kv_scale_layouts");
        // The release fuses K|V per KV head in its full-attention layers (0 and 5 of the fixture's pattern) only.
        foreach (int i in new[] { 0, 5 }) Assert.Equal("per_head_fused_kv", layouts.GetProperty($"model.layers.{i}").GetString());
        foreach (int i in new[] { 1, 2, 3, 4 }) Assert.Equal("grid", layouts.GetProperty($"model.layers.{i}").GetString());
        Assert.Equal("grid", layouts.GetProperty("model.mtp.layers.0").GetString());
        var text = MimoProcess.Run("inspect", "--model", Fixtures.Dir("tiny_fp8_release"));
        Assert.Contains("per_head_fused_kv: layers.0, layers.5", text.Stdout + text.Stderr);
    }

    [Theory]
    [InlineData("outside the vocabulary", "generate", "--tokens", "1,2,100000")]
    [InlineData("not an integer", "generate", "--tokens", "1,x")]
    [InlineData("empty", "generate", "--tokens", "")]
    [InlineData("--speculative 9", "generate", "--tokens", "1,2", "--speculative", "9")]
    [InlineData("--top-p", "generate", "--tokens", "1,2", "--temperature", "1", "--top-p", "1.5")]
    public void BadArgumentsGiveOneClearErrorLine(string expected, params string[] args)
    {
        var r = MimoProcess.Run([.. args, "--model", Fixtures.Dir("tiny_f32")]);
        Assert.Equal(1, r.ExitCode);
        Assert.Contains(expected, r.Stderr);
        Assert.Equal("", r.Stdout);
    }

    [Theory]
    [InlineData("generate --tokens 1 --quant q5_k", "q5_k", "none|q8_0|q4_k")]
    [InlineData("convert --to gguf --out x.gguf --quant q5_k", "q5_k", "auto|f32|f16|bf16|q8_0|q4_k")]
    [InlineData("train --data d --out o --save-dtype f16", "f16", "f32|bf16")]
    [InlineData("distill --student s --teacher a=t --prompts a=p --out o --save-dtype f16", "f16", "f32|bf16")]
    public void AChoiceOptionRefusesAnyOtherValueListingTheChoices(string command, string bad, string choices)
    {
        var r = MimoProcess.Run(command.Split(' '));
        Assert.Equal(1, r.ExitCode);
        Assert.Contains($"Argument '{bad}' not recognized", r.Stderr);
        foreach (var choice in choices.Split('|')) Assert.Contains($"'{choice}'", r.Stderr);
    }

    [Fact]
    public void MissingModelFolderIsNamed()
    {
        var r = MimoProcess.Run("generate", "--model", "/nonexistent/model", "--tokens", "1");
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("/nonexistent/model", r.Stderr);
    }
}

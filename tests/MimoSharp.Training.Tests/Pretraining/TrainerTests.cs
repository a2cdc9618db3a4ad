using System.Text.Json;
using MimoSharp.Inference;
using MimoSharp.Model;
using MimoSharp.Training.Checkpoints;
using MimoSharp.Training.Data;
using MimoSharp.Training.Model;
using MimoSharp.Training.Tests.Support;
using MimoSharp.Training.Pretraining;
using static TorchSharp.torch;

namespace MimoSharp.Training.Tests.Pretraining;

public class TrainerTests
{
    [Fact]
    public void TinyRunLowersTheLossAndWritesAnEngineCheckpoint()
    {
        using var run = new TinyRun();
        string output = run.Out("ckpt");
        var log = new StringWriter();
        var result = new MimoSharp.Training.Pretraining.Trainer(run.Options(output, steps: 40), log).Run();

        Assert.True(result.Finished);
        var state = TrainState.TryLoad(output)!;
        double first = state.History.Take(3).Average(p => p.MainLoss);
        double last = state.History.TakeLast(3).Average(p => p.MainLoss);
        Assert.True(last < first - 1.0, $"main loss went from {first:F3} to {last:F3}\n{log}");
        for (int k = 0; k < 2; k++)
            Assert.True(state.History[^1].MtpLoss[k] < state.History[0].MtpLoss[k], $"MTP depth {k} loss did not fall");
        Assert.Equal<long>([10, 20, 30, 40], state.EvalHistory.Select(e => e.Step));   // every 10 steps
        Assert.True(state.EvalHistory[^1].Loss < state.EvalHistory[0].Loss,
            $"held-out loss went from {state.EvalHistory[0].Loss:F3} to {state.EvalHistory[^1].Loss:F3}");
        Assert.Equal(2, state.EvalHistory[^1].MtpAccuracy.Length);

        // The checkpoint is what the engine loads: Hub config, tensor names, MTP layers, tokenizer, loss curve.
        foreach (var file in new[] { "config.json", "model.safetensors", "tokenizer.json", "loss.svg" })
            Assert.True(File.Exists(Path.Combine(output, file)), file);
        System.Xml.Linq.XDocument.Parse(File.ReadAllText(Path.Combine(output, "loss.svg")));
        using var engine = MimoModel.Load(output);
        Assert.Equal(2, engine.MtpLayers.Count);
        var lines = File.ReadAllLines(Path.Combine(output, "training", "metrics.jsonl"));
        Assert.Equal(40, lines.Length);
        var load = JsonDocument.Parse(lines[^1]).RootElement.GetProperty("expert_load").GetProperty("layer1");
        Assert.Equal(6, load.GetArrayLength());
        Assert.Equal(1.0, load.EnumerateArray().Sum(e => e.GetDouble()), 6);
    }

    [Fact]
    public void ResumedRunFollowsTheUninterruptedTrajectory()
    {
        using var run = new TinyRun();
        var straight = run.Options(run.Out("straight"), steps: 16) with { Bf16 = false };
        new MimoSharp.Training.Pretraining.Trainer(straight, TextWriter.Null).Run();

        var interrupted = straight with { OutputDirectory = run.Out("resumed"), MaxStepsThisRun = 7 };
        var first = new MimoSharp.Training.Pretraining.Trainer(interrupted, TextWriter.Null).Run();
        Assert.False(first.Finished);
        Assert.Equal(7, first.Step);
        var second = new MimoSharp.Training.Pretraining.Trainer(interrupted with { Resume = true, MaxStepsThisRun = null }, TextWriter.Null).Run();
        Assert.True(second.Finished);

        var a = TrainState.TryLoad(straight.OutputDirectory)!;
        var b = TrainState.TryLoad(interrupted.OutputDirectory)!;
        Assert.Equal(a.History.Select(p => p.Loss), b.History.Select(p => p.Loss));
        Assert.Equal(a.History.Select(p => p.MtpLoss[1]), b.History.Select(p => p.MtpLoss[1]));
        Assert.Equal(a.DataPosition, b.DataPosition);
        Assert.Equal(a.EvalHistory.Select(p => p.Loss), b.EvalHistory.Select(p => p.Loss));
        Assert.Equal(File.ReadAllBytes(Path.Combine(straight.OutputDirectory, "model.safetensors")),
                     File.ReadAllBytes(Path.Combine(interrupted.OutputDirectory, "model.safetensors")));
    }

    [Fact]
    public void FineTuningStartsFromTheGivenCheckpoint()
    {
        using var run = new TinyRun();
        var pre = run.Options(run.Out("pre"), steps: 30) with { EvalEvery = 0 };
        new MimoSharp.Training.Pretraining.Trainer(pre, TextWriter.Null).Run();
        var tuned = pre with { OutputDirectory = run.Out("tuned"), ConfigPath = null, InitFrom = pre.OutputDirectory, Steps = 3, WarmupSteps = 1 };
        new MimoSharp.Training.Pretraining.Trainer(tuned, TextWriter.Null).Run();

        var before = TrainState.TryLoad(pre.OutputDirectory)!;
        var after = TrainState.TryLoad(tuned.OutputDirectory)!;
        Assert.True(after.History[0].MainLoss < before.History[0].MainLoss - 1.0,
            $"fine-tuning began at loss {after.History[0].MainLoss:F3}, a fresh model at {before.History[0].MainLoss:F3}");

        // A checkpoint whose tokenizer differs from the corpus's is refused.
        File.WriteAllText(Path.Combine(pre.OutputDirectory, "tokenizer.json"),
            MimoSharp.Text.TokenizerTruncation.Truncate(File.ReadAllBytes(run.Tokenizer), 290, run.Tokenizer));
        var e = Assert.Throws<InvalidOperationException>(() =>
            new MimoSharp.Training.Pretraining.Trainer(tuned with { OutputDirectory = run.Out("tuned2") }, TextWriter.Null).Run());
        Assert.Contains("differs from the tokenizer the corpus", e.Message);
    }

    [Fact]
    public void SaveLoadRoundTripsExactlyAndTheEngineAgrees()
    {
        using var run = new TinyRun();
        var config = MimoSharp.Config.MimoConfig.Parse(TinyRun.TinyConfig(run.VocabSize));
        manual_seed(7);
        using var network = new MimoNetwork(config, 2);
        network.InitializeWeights(0.2);
        using (no_grad())
            foreach (var (name, t) in NetworkCheckpoint.Tensors(network))
                if (name.EndsWith("norm.weight") || name.EndsWith("sink_bias") || name.EndsWith("correction_bias"))
                    t.copy_(rand_like(t) + 0.5);   // non-trivial norms, sinks and router biases
        string dir = run.Out("roundtrip");
        NetworkCheckpoint.Save(network, dir, WeightDType.F32, run.Tokenizer);

        using var loaded = NetworkCheckpoint.Load(dir);
        var before = NetworkCheckpoint.Tensors(network).ToDictionary(p => p.Name, p => NetworkCheckpoint.ToArray(p.Tensor));
        foreach (var (name, t) in NetworkCheckpoint.Tensors(loaded)) Assert.Equal(before[name], NetworkCheckpoint.ToArray(t));
        Assert.Equal(before.Count, NetworkCheckpoint.Tensors(loaded).Count());

        // The engine reads the same file and computes the same logits (training vs engine within 1e-4).
        int[] ids = Enumerable.Range(0, 24).Select(i => (i * 37 + 11) % run.VocabSize).ToArray();
        using var engine = MimoModel.Load(dir);
        var expected = TeacherForcing.Run(engine, ids);
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var tokens = tensor(ids.Select(i => (long)i).ToArray(), [1, ids.Length]);
        var hidden = loaded.Hidden(tokens);
        AssertClose(expected.Logits, NetworkCheckpoint.ToArray(loaded.Logits(hidden)), 1e-4);
        for (int k = 0; k < 2; k++) AssertClose(expected.MtpLogits[k], NetworkCheckpoint.ToArray(loaded.MtpLogits(k, tokens, hidden)), 1e-4);
    }

    [Fact]
    public void ContextExtensionSavesTheNewGlobalBaseAndTheEngineAgreesWithTheNetwork()
    {
        using var run = new TinyRun();
        // A short-context checkpoint with a low global base and no swa_rope_theta (the SWA layers inherit the base), so
        // the new base moves the logits far beyond the tolerance and the SWA layers must be pinned to the old one.
        var raw = TinyRun.TinyConfig(run.VocabSize);
        raw["rope_theta"] = 100.0;
        raw.Remove("swa_rope_theta");
        raw["max_position_embeddings"] = 32;
        manual_seed(5);
        using (var start = new MimoNetwork(MimoSharp.Config.MimoConfig.Parse(raw), 2))
        {
            start.InitializeWeights(0.2);
            NetworkCheckpoint.Save(start, run.Out("short"), WeightDType.F32, run.Tokenizer);
        }
        var log = new StringWriter();
        var options = run.Options(run.Out("long"), steps: 2) with
        {
            ConfigPath = null,
            InitFrom = run.Out("short"),
            ContextLength = 64,
            RopeTheta = 10000.0,
            EvalEvery = 0,
            WarmupSteps = 1,
            SaveDType = WeightDType.F32,
        };
        new MimoSharp.Training.Pretraining.Trainer(options, log).Run();
        Assert.Contains("global rope_theta 100 → 10000 (SWA keeps 100), max_position_embeddings 32 → 64", log.ToString());

        var saved = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(Path.Combine(options.OutputDirectory, "config.json")))!;
        Assert.Equal(10000.0, saved["rope_theta"]!.GetValue<double>());
        Assert.Equal(100.0, saved["swa_rope_theta"]!.GetValue<double>());
        Assert.Equal(64, saved["max_position_embeddings"]!.GetValue<int>());

        // The engine loads it with the new base and computes the training network's logits at all 64 positions.
        int[] ids = Enumerable.Range(0, 64).Select(i => (i * 37 + 11) % run.VocabSize).ToArray();
        using var engine = MimoModel.Load(options.OutputDirectory);
        Assert.Equal((10000.0, 100.0), (engine.Config.Global.RopeTheta, engine.Config.Swa.RopeTheta));
        var expected = TeacherForcing.Run(engine, ids);
        using var network = NetworkCheckpoint.Load(options.OutputDirectory);
        using (var scope = NewDisposeScope())
        using (no_grad())
        {
            var tokens = tensor(ids.Select(i => (long)i).ToArray(), [1, ids.Length]);
            AssertClose(expected.Logits, NetworkCheckpoint.ToArray(network.Logits(network.Hidden(tokens))), 1e-4);
        }

        // The base matters here: the same weights under the old base give other logits.
        string oldBase = run.Out("old-base");
        Directory.CreateDirectory(oldBase);
        File.Copy(Path.Combine(options.OutputDirectory, "model.safetensors"), Path.Combine(oldBase, "model.safetensors"));
        var reverted = (System.Text.Json.Nodes.JsonObject)saved.DeepClone();
        reverted["rope_theta"] = 100.0;
        File.WriteAllText(Path.Combine(oldBase, "config.json"), reverted.ToJsonString());
        using var before = MimoModel.Load(oldBase);
        float[] other = TeacherForcing.Run(before, ids).Logits;
        Assert.True(expected.Logits.Zip(other, (a, b) => Math.Abs(a - b)).Max() > 1e-2, "the RoPE base did not change the logits");

        // A resumed run must keep the base it was saved with.
        var e = Assert.Throws<InvalidOperationException>(() =>
            new MimoSharp.Training.Pretraining.Trainer(options with { Resume = true, Steps = 3, RopeTheta = 20000.0 }, TextWriter.Null).Run());
        Assert.Contains("--rope-theta 20000", e.Message);
    }

    [Fact]
    public void BalancingMovesRouterBiasTowardEvenLoad()
    {
        TorchSetup.Init();
        var config = MimoSharp.Config.MimoConfig.Parse(TinyRun.TinyConfig(300));
        using var router = new MimoSharp.Training.Model.TopKRouter(config);
        router.BalanceStep([10, 0, 5, 5, 5, 5], 0.01);
        float[] bias = NetworkCheckpoint.ToArray(router.CorrectionBias);
        Assert.Equal([-0.01f, 0.01f, 0f, 0f, 0f, 0f], bias);
    }

    [Fact]
    public void MtpObjectiveTargetsTheTokenKPlusTwoAhead()
    {
        using var run = new TinyRun();
        var config = MimoSharp.Config.MimoConfig.Parse(TinyRun.TinyConfig(run.VocabSize));
        manual_seed(3);
        using var network = new MimoNetwork(config, 2);
        network.InitializeWeights(0.3);
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var tokens = randint(0, run.VocabSize, [2, 20]);
        using var losses = MtpObjective.Compute(network, tokens, 0.3);
        var hidden = network.Hidden(tokens);
        long[] ids = tokens.data<long>().ToArray();
        for (int k = 0; k < 2; k++)
        {
            // Every spec row i predicts t_{i+k+2}; the last row (whose target lies past the window) is left out.
            var logits = network.MtpLogits(k, tokens, hidden).log_softmax(-1);   // [2, 20-k-1, V]
            double sum = 0;
            int count = 0;
            for (int b = 0; b < 2; b++)
                for (int i = 0; i + k + 2 < 20; i++, count++)
                    sum -= logits[b, i, ids[b * 20 + i + k + 2]].item<float>();
            Assert.Equal(sum / count, losses.Mtp[k].item<float>(), 4);
        }
        double expectedTotal = losses.Main.item<float>() + 0.3 / 2 * (losses.Mtp[0].item<float>() + losses.Mtp[1].item<float>());
        Assert.Equal(expectedTotal, losses.Total.item<float>(), 4);
    }

    private static void AssertClose(float[] expected, float[] actual, double tolerance)
    {
        Assert.Equal(expected.Length, actual.Length);
        double max = 0;
        for (int i = 0; i < expected.Length; i++) max = Math.Max(max, Math.Abs(expected[i] - actual[i]));
        Assert.True(max <= tolerance, $"max |difference| {max} > {tolerance}");
    }
}

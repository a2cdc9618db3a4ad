using MimoSharp.Checkpoints;
using MimoSharp.Inference;
using MimoSharp.Model;
using MimoSharp.Training.Checkpoints;
using MimoSharp.Training.Distillation;
using MimoSharp.Training.Tests.Support;
using static TorchSharp.torch;

namespace MimoSharp.Training.Tests.Distillation;

/// <summary>MOPD: the advantage, the policy gradient, routing replay, a tiny run, and bad inputs.</summary>
public class MopdTests(MopdWorkspace w) : IClassFixture<MopdWorkspace>
{
    [Fact]
    public void AdvantageIsTeacherMinusRolloutLogProbPlusWeightedOutcome()
    {
        float[] teacher = [-0.5f, -3.0f, -1.0f];
        float[] rollout = [-1.5f, -1.0f, -1.0f];
        Assert.Equal([1.0f, -2.0f, 0.0f], MopdObjective.Advantages(teacher, rollout));
        // outcome 1 with weight 0.5 adds 0.5 to every token
        Assert.Equal([1.5f, -1.5f, 0.5f], MopdObjective.Advantages(teacher, rollout, outcome: 1, outcomeWeight: 0.5));
        Assert.Throws<ArgumentException>(() => MopdObjective.Advantages(teacher, rollout.AsSpan(0, 2)));
    }

    [Fact]
    public void GradientStepRaisesTokensTheTeacherPrefersAndLowersTheOthers()
    {
        TorchSetup.Init();
        using var network = NetworkCheckpoint.Load(w.Student);
        long[] sequence = [5, 17, 42, 99, 7];                  // prompt [5, 17], response [42, 99, 7]
        float[] advantage = [0, 1.0f, -1.0f, 0.5f];            // columns 1..3 predict the response tokens
        float[] mask = [0, 1, 1, 1];
        float[] Before() => TokenLogProbs(network, sequence);
        var before = Before();
        using (var batch = new PolicyBatch(tensor(sequence, [1, 5]), tensor(mask, [1, 4]), tensor(before, [1, 4]), tensor(advantage, [1, 4]), null))
        {
            using var loss = MopdObjective.Compute(network, batch, isCap: 2);
            Assert.Equal(1.0, loss.MeanRatio, 4);                // on-policy: π_θ = π_rollout
            foreach (var p in network.parameters()) p.grad?.zero_();
            loss.Total.backward();
            using var _ = no_grad();
            foreach (var p in network.parameters())
                if (p.grad is { } g) p.sub_(g * 0.05);
        }
        var after = Before();
        Assert.True(after[1] > before[1], $"token with advantage +1: {before[1]} → {after[1]}");
        Assert.True(after[2] < before[2], $"token with advantage −1: {before[2]} → {after[2]}");
        Assert.True(after[3] > before[3], $"token with advantage +0.5: {before[3]} → {after[3]}");
    }

    [Fact]
    public void ImportanceRatiosAboveTheCapAreTruncatedToIt()
    {
        TorchSetup.Init();
        using var network = NetworkCheckpoint.Load(w.Student);
        long[] sequence = [5, 17, 42, 99, 7];
        float[] advantage = [0, 1.0f, -1.0f, 0.5f];
        float[] mask = [0, 1, 1, 1];
        float[] policy = TokenLogProbs(network, sequence);           // log π_θ
        float[] shift = [0, 0.25f, 3.0f, -0.5f];                      // log π_θ − log π_rollout: ratios e^0.25, e^3, e^−0.5
        float[] rollout = policy.Select((lp, i) => lp - shift[i]).ToArray();

        PolicyLoss Loss(double cap)
        {
            using var batch = new PolicyBatch(tensor(sequence, [1, 5]), tensor(mask, [1, 4]), tensor(rollout, [1, 4]), tensor(advantage, [1, 4]), null);
            return MopdObjective.Compute(network, batch, isCap: cap);
        }
        // L = −Σ_t min(π_θ/π_rollout, cap) · Â_t · log π_θ(y_t) / (response tokens)
        double Expected(double cap) => -Enumerable.Range(1, 3).Sum(t => Math.Min(Math.Exp(shift[t]), cap) * advantage[t] * policy[t]) / 3;

        using (var capped = Loss(cap: 2))
        {
            Assert.Equal(1.0 / 3, capped.TruncatedFraction, 6);         // only e^3 is above 2
            Assert.Equal((Math.Exp(0.25) + Math.Exp(3) + Math.Exp(-0.5)) / 3, capped.MeanRatio, 3);   // reported untruncated
            Assert.Equal(Expected(2), capped.Policy, 3);
        }
        using (var uncapped = Loss(cap: 100))
        {
            Assert.Equal(0, uncapped.TruncatedFraction);
            Assert.Equal(Expected(100), uncapped.Policy, 3);
        }
        Assert.NotEqual(Math.Round(Expected(2), 3), Math.Round(Expected(100), 3));   // the cap changes the loss here
    }

    private static float[] TokenLogProbs(Training.Model.MimoNetwork network, long[] sequence)
    {
        using var _ = no_grad();
        using var scope = NewDisposeScope();
        var tokens = tensor(sequence, [1, sequence.Length]);
        var logits = network.Logits(network.Hidden(tokens));
        var lp = nn.functional.log_softmax(logits.narrow(1, 0, sequence.Length - 1), -1)
            .gather(2, tokens.narrow(1, 1, sequence.Length - 1).unsqueeze(2)).squeeze();
        return lp.data<float>().ToArray();
    }

    [Fact]
    public void RoutingReplayReproducesTheEnginesExpertsExactly()
    {
        TorchSetup.Init();
        int[] prompt = [3, 9, 27, 81, 243, 100, 12, 7];
        int[] continuation = [1, 2, 3, 4, 5, 6];
        using var engine = MimoModel.Load(w.Student);
        var scored = SequenceScorer.Score(engine, [new ScoringRequest(prompt, continuation)], recordRouting: true)[0];
        using var network = NetworkCheckpoint.Load(w.Student);
        int k = network.Config.NumExpertsPerTok, t = prompt.Length + continuation.Length;
        long[] all = [.. prompt.Select(x => (long)x), .. continuation.Select(x => (long)x)];
        using var tokens = tensor(all, [1, t]);
        RecordedRouting Own(RecordedRouting? replay = null)
        {
            var own = new RecordedRouting(network.Config, t);
            using (no_grad()) network.Hidden(tokens, replay, record: own).Dispose();
            return own;
        }

        // Same weights, no replay: the trainer's own choice agrees with the engine's (as sets per token).
        var unperturbed = Own();
        for (int m = 0; m < network.MoeLayers.Count; m++)
            AssertSameExperts(scored.Routing![m], unperturbed[m], k, t);

        // Perturb the routers so the trainer would route differently; with replay it must still use the engine's experts.
        using (no_grad())
            foreach (var (_, moe) in network.MoeLayers) moe.Gate.Weight.add_(randn_like(moe.Gate.Weight) * 5);
        var perturbed = Own();
        bool anyDiffers = false;
        for (int m = 0; m < network.MoeLayers.Count; m++)
            anyDiffers |= !SameExperts(scored.Routing![m], perturbed[m], k, t);
        Assert.True(anyDiffers, "the perturbation should change the trainer's own routing");

        var replayed = Own(replay: scored.Routing);
        for (int m = 0; m < network.MoeLayers.Count; m++)
            Assert.Equal(scored.Routing![m], replayed[m]);
    }

    private static bool SameExperts(int[] engine, int[] trainer, int k, int t)
    {
        for (int row = 0; row < t; row++)
            if (!engine.AsSpan(row * k, k).ToArray().Order().SequenceEqual(trainer.AsSpan(row * k, k).ToArray().Order()))
                return false;
        return true;
    }

    private static void AssertSameExperts(int[] engine, int[] trainer, int k, int t) =>
        Assert.True(SameExperts(engine, trainer, k, t), "the trainer's routing differs from the engine's on identical weights");

    [Fact]
    public void ScorerMatchesTheLogProbsOfDecoding()
    {
        // π_rollout is taken from a teacher-forced pass: it must equal what the sampler saw, token by token.
        using var engine = MimoModel.Load(w.Student);
        int[] prompt = [11, 22, 33];
        var options = new GenerationOptions { MaxTokens = 8, Sampling = new SamplingOptions { Temperature = 1, Seed = 7 } };
        var sequence = new DecodeSequence(engine, prompt, options);
        var decoder = new BatchDecoder(engine);
        while (!sequence.IsFinished) decoder.Step([sequence]);
        int[] generated = sequence.Generated.ToArray();
        var scored = SequenceScorer.Score(engine, [new ScoringRequest(prompt, generated), new ScoringRequest([5], [6, 7])])[0];
        var reference = TeacherForcing.Run(engine, [.. prompt, .. generated], chunk: 1);
        for (int j = 0; j < generated.Length; j++)
        {
            var row = reference.Logits.AsSpan((prompt.Length - 1 + j) * engine.VocabSize, engine.VocabSize);
            Assert.Equal(SequenceScorer.LogSoftmaxAt(row, generated[j]), scored.LogProbs[j]);
        }
    }

    [Fact]
    public void TinyRunLowersTheReverseKlToTheTeacher()
    {
        var options = w.Options(w.Run.Out("tiny-mopd"), steps: 12);
        var result = new Distiller(options, TextWriter.Null).Run();
        Assert.True(result.Finished);
        var state = DistillState.TryLoad(options.OutputDirectory)!;
        double first = state.EvalHistory[0].Domains[0].ReverseKl, last = state.EvalHistory[^1].Domains[0].ReverseKl;
        Assert.Equal(0, state.EvalHistory[0].Step);
        Assert.True(last < 0.7 * first, $"held-out reverse KL {first:F4} → {last:F4}");
        Assert.True(File.Exists(Path.Combine(options.OutputDirectory, "reverse_kl_rhymes.svg")));
        using var reloaded = MimoModel.Load(options.OutputDirectory);   // the student loads in the engine
        Assert.Equal(12, state.History.Count);
    }

    [Fact]
    public void WithoutReplayTheTrainersOwnRoutingIsComparedWithTheEngines()
    {
        var options = w.Options(w.Run.Out("no-r3"), steps: 3) with { RoutingReplay = false, EvalEvery = 0, LearningRate = 3e-2 };
        new Distiller(options, TextWriter.Null).Run();
        var history = DistillState.TryLoad(options.OutputDirectory)!.History;
        Assert.All(history, p => Assert.NotNull(p.RoutingMismatch));
        // The first step's first mini-batch routes with the very weights the rollout engine used, so only the second of the
        // two mini-batches can disagree with it: the step's mean is at most one half.
        Assert.InRange(history[0].RoutingMismatch!.Value, 0, 0.5);
        // After a large update the second mini-batch routes some tokens elsewhere than the rollout engine did.
        Assert.Contains(history, p => p.RoutingMismatch > 0);

        var replayed = w.Options(w.Run.Out("r3"), steps: 1) with { EvalEvery = 0 };
        new Distiller(replayed, TextWriter.Null).Run();
        Assert.Null(DistillState.TryLoad(replayed.OutputDirectory)!.History[0].RoutingMismatch);
    }

    [Fact]
    public void ResumeContinuesTheSameTrajectory()
    {
        var straight = w.Options(w.Run.Out("straight"), steps: 4) with { EvalEvery = 0 };
        new Distiller(straight, TextWriter.Null).Run();
        var split = straight with { OutputDirectory = w.Run.Out("split"), MaxStepsThisRun = 2 };
        new Distiller(split, TextWriter.Null).Run();
        new Distiller(split with { Resume = true, MaxStepsThisRun = null }, TextWriter.Null).Run();
        using var a = SafetensorsFile.Open(Path.Combine(straight.OutputDirectory, "model.safetensors"));
        using var b = SafetensorsFile.Open(Path.Combine(split.OutputDirectory, "model.safetensors"));
        foreach (var (name, info) in a.Tensors)
            Assert.Equal(info.ToFloat32(), b.Tensors[name].ToFloat32());
    }

    private Exception Fails(DistillOptions options) => Assert.ThrowsAny<Exception>(() => new Distiller(options, TextWriter.Null).Run());

    [Fact]
    public void TeacherWithAnotherVocabularyIsRefused()
    {
        string other = w.Run.Out("other-vocab-teacher");
        var config = TinyRun.TinyConfig(w.Run.VocabSize + 8);
        Directory.CreateDirectory(other);
        SyntheticCheckpoint.Write(other, config, mtpLayers: 0);
        var options = w.Options(w.Run.Out("bad-vocab")) with { Teachers = new Dictionary<string, string> { ["rhymes"] = other } };
        var e = Fails(options);
        Assert.Contains("vocab_size", e.Message);
        Assert.Contains("rhymes", e.Message);
    }

    [Fact]
    public void TeacherWithAnotherTokenizerOfTheSameSizeIsRefused()
    {
        string other = w.Run.Out("other-tokenizer-teacher");
        Directory.CreateDirectory(other);
        foreach (var f in Directory.GetFiles(w.Teacher)) File.Copy(f, Path.Combine(other, Path.GetFileName(f)), overwrite: true);
        File.AppendAllText(Path.Combine(other, "tokenizer.json"), "\n");   // same ids, different file: not provably one vocabulary
        var e = Fails(w.Options(w.Run.Out("bad-tokenizer")) with { Teachers = new Dictionary<string, string> { ["rhymes"] = other } });
        Assert.IsType<InvalidOperationException>(e);
        Assert.Contains("tokenizer", e.Message);
        Assert.Contains("differs from the student's", e.Message);
    }

    [Fact]
    public void MissingTeacherFolderIsNamed()
    {
        string missing = w.Run.Out("no-such-teacher");
        var e = Fails(w.Options(w.Run.Out("missing-teacher")) with { Teachers = new Dictionary<string, string> { ["rhymes"] = missing } });
        Assert.IsType<ArgumentException>(e);
        Assert.Contains(missing, e.Message);
    }

    [Fact]
    public void UnknownEvalDomainAndDomainWithoutPromptsAreRefused()
    {
        var extraEval = Fails(w.Options(w.Run.Out("unknown-eval")) with
        {
            EvalPrompts = new Dictionary<string, string> { ["poetry"] = w.HeldoutPrompts },
        });
        Assert.Contains("--eval poetry", extraEval.Message);
        Assert.Contains("unknown domain \"poetry\"", extraEval.Message);

        var noPrompts = Fails(w.Options(w.Run.Out("no-prompts")) with
        {
            Teachers = new Dictionary<string, string> { ["rhymes"] = w.Teacher, ["poetry"] = w.Teacher },
        });
        Assert.Contains("domain \"poetry\" has no --prompts", noPrompts.Message);
    }

    [Fact]
    public void ResumeWithOtherSettingsOrWithoutARunIsRefused()
    {
        var options = w.Options(w.Run.Out("resume-checks"), steps: 1) with { EvalEvery = 0 };
        var none = Fails(options with { Resume = true });
        Assert.Contains("holds no distillation run", none.Message);
        new Distiller(options, TextWriter.Null).Run();
        var again = Fails(options);
        Assert.Contains("--resume", again.Message);
        var changed = Fails(options with { Resume = true, Steps = 2, LearningRate = 1e-2 });
        Assert.Contains("lr", changed.Message);
    }

    [Fact]
    public void UnknownDomainIsRefused()
    {
        var options = w.Options(w.Run.Out("unknown")) with
        {
            Prompts = new Dictionary<string, string> { ["rhymes"] = w.TrainPrompts, ["poetry"] = w.TrainPrompts },
        };
        var e = Fails(options);
        Assert.IsType<ArgumentException>(e);
        Assert.Contains("unknown domain \"poetry\"", e.Message);
    }

    [Fact]
    public void EmptyPromptFileIsRefused()
    {
        string empty = w.Run.Out("empty.jsonl");
        File.WriteAllText(empty, "\n");
        var e = Fails(w.Options(w.Run.Out("empty")) with { Prompts = new Dictionary<string, string> { ["rhymes"] = empty } });
        Assert.IsType<InvalidDataException>(e);
        Assert.Contains(empty, e.Message);
        Assert.Contains("no prompts", e.Message);
    }

    [Fact]
    public void MalformedPromptLineIsNamed()
    {
        string bad = w.Run.Out("bad.jsonl");
        File.WriteAllText(bad, "{\"prompt\": \"the cat\"}\n{\"prompt\": \"\"}\n");
        var e = Assert.Throws<InvalidDataException>(() => DistillPrompt.Load(bad));
        Assert.Contains($"{bad}:2", e.Message);
    }
}

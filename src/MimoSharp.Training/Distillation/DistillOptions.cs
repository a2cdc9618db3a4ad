using MimoSharp.Config;
using MimoSharp.Training.Checkpoints;
using MimoSharp.Training.Runs;

namespace MimoSharp.Training.Distillation;

/// <summary>Everything <c>mimo distill</c> takes. Options that shape the trajectory are recorded and checked on resume.</summary>
public sealed record DistillOptions
{
    /// <summary>Checkpoint folder of the student to start from (with tokenizer.json).</summary>
    public required string Student { get; init; }

    /// <summary>Domain name → teacher checkpoint folder.</summary>
    public required IReadOnlyDictionary<string, string> Teachers { get; init; }

    /// <summary>Domain name → training prompt file (JSON Lines of <see cref="DistillPrompt"/>).</summary>
    public required IReadOnlyDictionary<string, string> Prompts { get; init; }

    /// <summary>Domain name → held-out prompt file for the curves (optional per domain).</summary>
    public IReadOnlyDictionary<string, string> EvalPrompts { get; init; } = new Dictionary<string, string>();

    /// <summary>Output checkpoint folder: the student, training/ with optimizer and run state, curves.</summary>
    public required string OutputDirectory { get; init; }

    public int Steps { get; init; } = 100;

    /// <summary>Prompts rolled out per step, spread evenly over the domains.</summary>
    public int PromptsPerStep { get; init; } = 24;

    /// <summary>Optimizer steps per rollout batch (later ones are slightly off-policy: the importance ratio corrects them).</summary>
    public int MiniBatches { get; init; } = 2;

    public double LearningRate { get; init; } = 1e-4;
    public int WarmupSteps { get; init; } = 5;
    public double WeightDecay { get; init; }
    public double GradClip { get; init; } = 1.0;

    /// <summary>Sampling temperature of the rollouts (1 = the policy itself, which the advantage assumes).</summary>
    public float Temperature { get; init; } = 1f;

    /// <summary>Most response tokens when a prompt does not say.</summary>
    public int MaxTokens { get; init; } = 32;

    /// <summary>Cap of the importance ratio π_θ/π_rollout.</summary>
    public double ImportanceCap { get; init; } = 2.0;

    /// <summary>Weight of the outcome reward (1 for a correct answer, 0 otherwise) on prompts that have an answer.</summary>
    public double OutcomeWeight { get; init; }

    /// <summary>R3: the training forward uses the experts the rollout engine chose.</summary>
    public bool RoutingReplay { get; init; } = true;

    /// <summary>The off-policy baseline: teachers sample, the student is fine-tuned on their samples.</summary>
    public bool OffPolicy { get; init; }

    /// <summary>Weight of the MTP heads' loss on the sampled sequences (keeps self-speculative drafts aligned with the new policy).</summary>
    public double MtpWeight { get; init; } = 0.1;

    /// <summary>MTP draft depth for rollouts (0 = plain decoding); sampled speculative decoding keeps the policy's distribution.</summary>
    public int Speculative { get; init; }

    public int EvalEvery { get; init; } = 10;
    public int EvalPromptsPerDomain { get; init; } = 64;
    public int SaveEvery { get; init; } = 10;
    public ulong Seed { get; init; } = 1;
    public int Threads { get; init; } = Environment.ProcessorCount;
    public bool Resume { get; init; }
    public int? MaxStepsThisRun { get; init; }
    public WeightDType SaveDType { get; init; } = WeightDType.F32;

    /// <summary>Refuses options no run can start with, naming the option.</summary>
    internal void Validate()
    {
        Require.That(Teachers.Count > 0, "give at least one --teacher NAME=DIR");
        foreach (var name in Prompts.Keys)
            Require.That(Teachers.ContainsKey(name), $"--prompts {name}=…: unknown domain \"{name}\" (no --teacher {name}=DIR; teachers: {string.Join(", ", Teachers.Keys)})");
        foreach (var name in EvalPrompts.Keys)
            Require.That(Teachers.ContainsKey(name), $"--eval {name}=…: unknown domain \"{name}\" (no --teacher {name}=DIR; teachers: {string.Join(", ", Teachers.Keys)})");
        foreach (var name in Teachers.Keys)
            Require.That(Prompts.ContainsKey(name), $"--teacher {name}=…: domain \"{name}\" has no --prompts {name}=FILE");
        foreach (var (name, dir) in Teachers)
            Require.That(Directory.Exists(dir) || File.Exists(dir), $"--teacher {name}={dir}: no such checkpoint folder");
        Require.That(Steps > 0, $"--steps must be positive, got {Steps}");
        Require.That(PromptsPerStep > 0, $"--prompts-per-step must be positive, got {PromptsPerStep}");
        Require.That(MiniBatches > 0 && MiniBatches <= PromptsPerStep, $"--mini-batches must be in 1..--prompts-per-step, got {MiniBatches}");
        Require.That(LearningRate > 0, $"--lr must be positive, got {LearningRate}");
        Require.That(Temperature > 0, $"--temperature must be positive for sampled rollouts, got {Temperature}");
        Require.That(ImportanceCap > 0, $"--is-cap must be positive, got {ImportanceCap}");
        Require.That(MaxTokens > 0, $"--max-tokens must be positive, got {MaxTokens}");
        Require.That(WarmupSteps >= 1, $"--warmup must be at least 1, got {WarmupSteps}");
        Require.That(Speculative >= 0, $"--speculative must be ≥ 0, got {Speculative}");
    }

    /// <summary>The settings that shape the trajectory, as the state file records them (<see cref="Fingerprint"/>).</summary>
    internal SortedDictionary<string, string> Settings(MimoConfig config)
    {
        var s = new SortedDictionary<string, string>(StringComparer.Ordinal)
        {
            ["config_sha256"] = Fingerprint.OfConfig(config),
            ["prompts_per_step"] = Fingerprint.Of(PromptsPerStep),
            ["mini_batches"] = Fingerprint.Of(MiniBatches),
            ["lr"] = Fingerprint.Of(LearningRate),
            ["warmup"] = Fingerprint.Of(WarmupSteps),
            ["weight_decay"] = Fingerprint.Of(WeightDecay),
            ["temperature"] = Fingerprint.Of(Temperature),
            ["importance_cap"] = Fingerprint.Of(ImportanceCap),
            ["outcome_weight"] = Fingerprint.Of(OutcomeWeight),
            ["routing_replay"] = Fingerprint.Of(RoutingReplay),
            ["off_policy"] = Fingerprint.Of(OffPolicy),
            ["mtp_weight"] = Fingerprint.Of(MtpWeight),
            ["seed"] = Fingerprint.Of(Seed),
        };
        foreach (var (name, dir) in Teachers) s["teacher." + name] = Path.GetFullPath(dir);
        foreach (var (name, file) in Prompts) s["prompts." + name] = Fingerprint.OfFile(file);
        return s;
    }
}

using MimoSharp.Training.Checkpoints;

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
}

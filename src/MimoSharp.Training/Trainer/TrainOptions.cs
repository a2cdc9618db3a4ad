using MimoSharp.Training.Checkpoints;

namespace MimoSharp.Training.Trainer;

/// <summary>Everything <c>mimo train</c> takes. Options that shape the loss trajectory are recorded in the checkpoint
/// and must match when a run is resumed.</summary>
public sealed record TrainOptions
{
    /// <summary>Packed corpus folder (meta.json + shards), as written by scripts/corpus.sh.</summary>
    public required string DataDirectory { get; init; }

    /// <summary>Checkpoint folder: the model files the engine loads, plus training/ with the optimizer and run state.</summary>
    public required string OutputDirectory { get; init; }

    /// <summary>Hub-format config.json of a model to train from scratch (exclusive with <see cref="InitFrom"/>).</summary>
    public string? ConfigPath { get; init; }

    /// <summary>Checkpoint folder to start from (fine-tuning on new data).</summary>
    public string? InitFrom { get; init; }

    /// <summary>MTP depths of a model trained from scratch (a checkpoint brings its own).</summary>
    public int MtpLayers { get; init; } = 3;

    public int Steps { get; init; } = 1000;
    public int BatchSize { get; init; } = 16;
    public int ContextLength { get; init; } = 256;
    public double LearningRate { get; init; } = 1e-3;
    public double MinLearningRateFraction { get; init; } = 0.1;
    public int WarmupSteps { get; init; } = 100;

    /// <summary>Null: cosine decay over the whole run. A fraction: warm-up–stable–decay, decaying over that last share of the steps.</summary>
    public double? DecayFraction { get; init; }
    public double WeightDecay { get; init; } = 0.1;
    public double GradClip { get; init; } = 1.0;

    /// <summary>Weight of the MTP losses, shared over the depths: loss = main + w/K · Σ mtp_k.</summary>
    public double MtpWeight { get; init; } = 0.3;

    /// <summary>Router correction-bias step γ of auxiliary-loss-free load balancing (0 turns balancing off).</summary>
    public double BalanceGamma { get; init; } = 0.001;

    public ulong Seed { get; init; } = 1;
    public int EvalEvery { get; init; } = 200;
    public int EvalWindows { get; init; } = 64;
    public int SaveEvery { get; init; } = 200;
    public int LogEvery { get; init; } = 10;

    /// <summary>
    /// Run matmuls in bfloat16 (float32 master weights, norms, router and losses stay float32). Faster only where the
    /// CPU has native bf16 dot products (AVX512-BF16/AMX); on an AVX2-only CPU libtorch's bf16 matmul is far slower.
    /// </summary>
    public bool Bf16 { get; init; }

    public WeightDType SaveDType { get; init; } = WeightDType.BF16;
    public bool Resume { get; init; }

    /// <summary>Stop (after saving) once this many steps ran in this invocation; the run can be resumed later.</summary>
    public int? MaxStepsThisRun { get; init; }

    public int Threads { get; init; } = Environment.ProcessorCount;
}

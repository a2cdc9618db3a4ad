using MimoSharp.Config;
using MimoSharp.Training.Checkpoints;
using MimoSharp.Training.Data;
using MimoSharp.Training.Runs;

namespace MimoSharp.Training.Pretraining;

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

    /// <summary>
    /// Context extension (<see cref="ContextExtension"/>): the RoPE base of the global layers for this run and the model it
    /// saves (the SWA layers keep theirs). Null keeps the model's. Either way, a <see cref="ContextLength"/> beyond the
    /// model's max_position_embeddings raises it.
    /// </summary>
    public double? RopeTheta { get; init; }

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

    /// <summary>Refuses options no run can start with, naming the option.</summary>
    internal void Validate()
    {
        Require.That(Steps > 0, $"--steps must be positive, got {Steps}");
        Require.That(BatchSize > 0, $"--batch-size must be positive, got {BatchSize}");
        Require.That(ContextLength >= 8, $"--context must be at least 8 tokens, got {ContextLength}");
        Require.That(LearningRate > 0, $"--lr must be positive, got {LearningRate}");
        Require.That(WarmupSteps >= 1, $"--warmup must be at least 1, got {WarmupSteps}");
        Require.That(DecayFraction is null or (> 0 and <= 1), $"--decay-fraction must be in (0, 1], got {DecayFraction}");
        Require.That(MtpWeight >= 0, $"--mtp-weight must be ≥ 0, got {MtpWeight}");
        Require.That(BalanceGamma >= 0, $"--balance-gamma must be ≥ 0, got {BalanceGamma}");
        Require.That(LogEvery > 0, $"--log-every must be positive, got {LogEvery}");
        Require.That(MtpLayers >= 0, $"--mtp-layers must be ≥ 0, got {MtpLayers}");
        Require.That(ConfigPath is null || InitFrom is null, "give either --config (train from scratch) or --init-from (fine-tune), not both");
        Require.That(Resume || ConfigPath is not null || InitFrom is not null,
            "give --config FILE to train from scratch, --init-from DIR to fine-tune, or --resume to continue --out");
        Require.That(RopeTheta is null or (> 0 and < double.PositiveInfinity), $"--rope-theta must be a positive number, got {RopeTheta}");
        Require.That(ContextLength - MtpLayers - 2 > 0, $"--context {ContextLength} is too short for {MtpLayers} MTP depths");
    }

    /// <summary>The settings that shape the loss trajectory, as the state file records them (<see cref="Fingerprint"/>).</summary>
    internal SortedDictionary<string, string> Settings(MimoConfig config, CorpusMeta meta)
    {
        var settings = new SortedDictionary<string, string>(StringComparer.Ordinal)
        {
            ["config_sha256"] = Fingerprint.OfConfig(config),
            ["corpus_tokenizer_sha256"] = meta.TokenizerSha256,
            ["corpus_train_tokens"] = Fingerprint.Of(meta.TrainTokens),
            ["batch_size"] = Fingerprint.Of(BatchSize),
            ["context"] = Fingerprint.Of(ContextLength),
            ["lr"] = Fingerprint.Of(LearningRate),
            ["min_lr_fraction"] = Fingerprint.Of(MinLearningRateFraction),
            ["warmup"] = Fingerprint.Of(WarmupSteps),
            ["weight_decay"] = Fingerprint.Of(WeightDecay),
            ["grad_clip"] = Fingerprint.Of(GradClip),
            ["mtp_weight"] = Fingerprint.Of(MtpWeight),
            ["balance_gamma"] = Fingerprint.Of(BalanceGamma),
            ["seed"] = Fingerprint.Of(Seed),
            ["bf16"] = Fingerprint.Of(Bf16),
        };
        // Only WSD runs carry the key, so cosine runs saved before it existed still resume.
        if (DecayFraction is double fraction) settings["schedule"] = "wsd:" + Fingerprint.Of(fraction);
        return settings;
    }
}

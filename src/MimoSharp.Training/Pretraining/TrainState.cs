using System.Text.Json.Serialization;
using MimoSharp.Training.Runs;

namespace MimoSharp.Training.Pretraining;

/// <summary>One logged training point.</summary>
public sealed record TrainPoint(
    [property: JsonPropertyName("step")] long Step,
    [property: JsonPropertyName("loss")] double Loss,
    [property: JsonPropertyName("main_loss")] double MainLoss,
    [property: JsonPropertyName("mtp_loss")] double[] MtpLoss,
    [property: JsonPropertyName("lr")] double LearningRate,
    [property: JsonPropertyName("grad_norm")] double GradNorm,
    [property: JsonPropertyName("tokens_per_second")] double? TokensPerSecond = null,
    [property: JsonPropertyName("mfu")] double? Mfu = null);

/// <summary>One held-out evaluation during training.</summary>
public sealed record EvalPoint(
    [property: JsonPropertyName("step")] long Step,
    [property: JsonPropertyName("loss")] double Loss,
    [property: JsonPropertyName("perplexity")] double Perplexity,
    [property: JsonPropertyName("mtp_loss")] double[] MtpLoss,
    [property: JsonPropertyName("mtp_accuracy")] double[] MtpAccuracy);

/// <summary>
/// training/state.json: where a run is (steps done, data position), how it was started (the settings that shape
/// its trajectory, checked on resume), and its history. Written last when saving, so it marks a complete checkpoint.
/// </summary>
public sealed record TrainState : IRunState
{
    public const string Folder = TrainingRun.FolderName;
    public const string FileName = "state.json";

    public static RunKind Kind { get; } = new("training", FileName, "trained");

    [JsonPropertyName("step")] public long Step { get; set; }
    [JsonPropertyName("data_position")] public long DataPosition { get; set; }
    [JsonPropertyName("tokens_seen")] public long TokensSeen { get; set; }
    [JsonPropertyName("train_seconds")] public double TrainSeconds { get; set; }
    /// <summary>Training FLOPs per token (<see cref="TrainingFlops"/>) and the matmul peak measured when the run last started.</summary>
    [JsonPropertyName("training_flops_per_token")] public double TrainingFlopsPerToken { get; set; }
    [JsonPropertyName("matmul_peak_flops")] public double MatmulPeakFlops { get; set; }
    /// <summary>The optimizer file (in training/) this state belongs to; null in runs saved before per-step files.</summary>
    [JsonPropertyName("optimizer_file")] public string? OptimizerFile { get; set; }
    [JsonPropertyName("settings")] public required SortedDictionary<string, string> Settings { get; init; }
    [JsonPropertyName("history")] public List<TrainPoint> History { get; init; } = [];
    [JsonPropertyName("eval_history")] public List<EvalPoint> EvalHistory { get; init; } = [];

    public static string PathIn(string checkpoint) => RunStateFile.PathIn<TrainState>(checkpoint);

    public static TrainState? TryLoad(string checkpoint) => RunStateFile.TryLoad<TrainState>(checkpoint);

    public void Save(string checkpoint) => RunStateFile.Save(checkpoint, this);

    public void ForgetAfter(long step)
    {
        History.RemoveAll(p => p.Step > step);
        EvalHistory.RemoveAll(p => p.Step > step);
    }
}

using System.Text.Json.Serialization;
using MimoSharp.Training.Runs;

namespace MimoSharp.Training.Distillation;

/// <summary>One domain's figures in a training step: sampled reverse KL to its teacher and mean advantage.</summary>
public sealed record DomainStepPoint(
    [property: JsonPropertyName("reverse_kl")] double ReverseKl,
    [property: JsonPropertyName("mean_advantage")] double MeanAdvantage,
    [property: JsonPropertyName("accuracy")] double? Accuracy,
    [property: JsonPropertyName("tokens")] long Tokens);

/// <summary>One MOPD step.</summary>
public sealed record DistillPoint(
    [property: JsonPropertyName("step")] long Step,
    [property: JsonPropertyName("policy_loss")] double PolicyLoss,
    [property: JsonPropertyName("mtp_loss")] double MtpLoss,
    [property: JsonPropertyName("mean_ratio")] double MeanRatio,
    [property: JsonPropertyName("truncated_fraction")] double TruncatedFraction,
    [property: JsonPropertyName("grad_norm")] double GradNorm,
    [property: JsonPropertyName("lr")] double LearningRate,
    [property: JsonPropertyName("seconds")] double Seconds,
    [property: JsonPropertyName("domains")] SortedDictionary<string, DomainStepPoint> Domains)
{
    /// <summary>With routing replay off: the fraction of (token, MoE layer) pairs the trainer routed differently from the rollout engine.</summary>
    [JsonPropertyName("routing_mismatch")] public double? RoutingMismatch { get; init; }
}

/// <summary>A model's held-out figures on one domain (see <see cref="DistillEvaluator"/>).</summary>
public sealed record DomainEval(
    [property: JsonPropertyName("domain")] string Domain,
    [property: JsonPropertyName("prompts")] int Prompts,
    [property: JsonPropertyName("reverse_kl")] double ReverseKl,
    [property: JsonPropertyName("accuracy")] double? Accuracy,
    [property: JsonPropertyName("reference_nll")] double? ReferenceNll,
    [property: JsonPropertyName("reference_perplexity")] double? ReferencePerplexity,
    [property: JsonPropertyName("mean_response_tokens")] double MeanResponseTokens);

public sealed record DistillEvalPoint(
    [property: JsonPropertyName("step")] long Step,
    [property: JsonPropertyName("domains")] IReadOnlyList<DomainEval> Domains);

/// <summary>training/distill-state.json: progress, settings checked on resume, history. Written last when saving.</summary>
public sealed record DistillState : IRunState
{
    public const string FileName = "distill-state.json";

    public static RunKind Kind { get; } = new("distillation", FileName, "run");

    [JsonPropertyName("step")] public long Step { get; set; }
    [JsonPropertyName("tokens_sampled")] public long TokensSampled { get; set; }
    [JsonPropertyName("rollout_seconds")] public double RolloutSeconds { get; set; }
    [JsonPropertyName("scoring_seconds")] public double ScoringSeconds { get; set; }
    [JsonPropertyName("training_seconds")] public double TrainingSeconds { get; set; }
    [JsonPropertyName("cursors")] public SortedDictionary<string, long> Cursors { get; init; } = new(StringComparer.Ordinal);
    /// <summary>The optimizer file (in training/) this state belongs to; null in runs saved before per-step files.</summary>
    [JsonPropertyName("optimizer_file")] public string? OptimizerFile { get; set; }
    [JsonPropertyName("settings")] public required SortedDictionary<string, string> Settings { get; init; }
    [JsonPropertyName("history")] public List<DistillPoint> History { get; init; } = [];
    [JsonPropertyName("eval_history")] public List<DistillEvalPoint> EvalHistory { get; init; } = [];

    public static string PathIn(string checkpoint) => RunStateFile.PathIn<DistillState>(checkpoint);

    public static DistillState? TryLoad(string checkpoint) => RunStateFile.TryLoad<DistillState>(checkpoint);

    public void Save(string checkpoint) => RunStateFile.Save(checkpoint, this);

    public void ForgetAfter(long step)
    {
        History.RemoveAll(p => p.Step > step);
        EvalHistory.RemoveAll(p => p.Step > step);
    }
}

using MimoSharp.Training.Runs;

namespace MimoSharp.Training.Pretraining;

/// <summary>
/// A training step, as <see cref="Trainer"/> reports it: the loss shown (this step's, or on a logged step the mean
/// since the last log line), throughput and what model FLOPs utilisation needs.
/// </summary>
public sealed record TrainProgress(long Step, int TotalSteps, TimeSpan Elapsed, int StepsThisRun,
    double Loss, double[] MtpLoss, double TokensPerSecond, double FlopsPerToken, double PeakFlops)
    : StepProgress(Step, TotalSteps, Elapsed, StepsThisRun)
{
    /// <summary>Set on logged steps (every --log-every and the last): the point written to the metrics.</summary>
    public TrainPoint? Logged { get; init; }

    /// <summary>On logged steps: the busiest expert's share over the mean per MoE layer ("" without MoE layers).</summary>
    public string ExpertLoad { get; init; } = "";

    /// <summary>The last report of an invocation: no more steps follow.</summary>
    public bool Stopped { get; init; }
}

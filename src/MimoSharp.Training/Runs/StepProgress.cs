namespace MimoSharp.Training.Runs;

/// <summary>
/// What a run reports after a step through <see cref="IProgress{T}"/> (the CLI draws it): where the run is, and how
/// long this invocation has been stepping.
/// </summary>
public abstract record StepProgress(long Step, int TotalSteps, TimeSpan Elapsed, int StepsThisRun)
{
    /// <summary>The remaining steps at this invocation's mean seconds per step.</summary>
    public TimeSpan Eta => TimeSpan.FromSeconds((StepsThisRun > 0 ? Elapsed.TotalSeconds / StepsThisRun : 0) * (TotalSteps - Step));
}

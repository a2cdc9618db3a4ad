using MimoSharp.Training.Runs;

namespace MimoSharp.Training.Distillation;

/// <summary>A MOPD step, as <see cref="Distiller"/> reports it: the step's point and the importance-ratio cap it was truncated at.</summary>
public sealed record DistillProgress(long Step, int TotalSteps, TimeSpan Elapsed, int StepsThisRun, DistillPoint Point, double ImportanceCap)
    : StepProgress(Step, TotalSteps, Elapsed, StepsThisRun);

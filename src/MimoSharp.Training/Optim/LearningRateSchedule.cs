namespace MimoSharp.Training.Optim;

/// <summary>Linear warm-up from 0 to the peak over <c>warmup</c> steps, then a cosine decay to <c>minFraction</c> · peak at the last step.</summary>
public sealed record LearningRateSchedule(double Peak, int WarmupSteps, int TotalSteps, double MinFraction = 0.1)
{
    public double At(long step)
    {
        if (step < WarmupSteps) return Peak * (step + 1) / WarmupSteps;
        double span = Math.Max(1, TotalSteps - WarmupSteps);
        double progress = Math.Clamp((step - WarmupSteps) / span, 0, 1);
        double min = Peak * MinFraction;
        return min + 0.5 * (Peak - min) * (1 + Math.Cos(Math.PI * progress));
    }
}

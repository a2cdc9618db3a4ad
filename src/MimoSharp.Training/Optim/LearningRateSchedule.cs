namespace MimoSharp.Training.Optim;

/// <summary>
/// Linear warm-up from 0 to the peak over <c>warmup</c> steps, then either a cosine decay to <c>minFraction</c> · peak
/// at the last step, or — with a <c>DecayFraction</c> — warm-up–stable–decay: the peak held until the last
/// <c>DecayFraction</c> of the steps, then a 1−√ decay to the floor (Hägele et al. 2024). A WSD run can be extended
/// by raising the step count at any point of its stable phase without changing the steps already taken.
/// </summary>
public sealed record LearningRateSchedule(double Peak, int WarmupSteps, int TotalSteps, double MinFraction = 0.1, double? DecayFraction = null)
{
    public double At(long step)
    {
        if (step < WarmupSteps) return Peak * (step + 1) / WarmupSteps;
        double min = Peak * MinFraction;
        if (DecayFraction is double fraction)
        {
            long decaySteps = Math.Max(1, (long)Math.Round(fraction * TotalSteps));
            long decayStart = Math.Max(WarmupSteps, TotalSteps - decaySteps);
            if (step < decayStart) return Peak;
            double done = Math.Clamp((double)(step - decayStart) / Math.Max(1, TotalSteps - decayStart), 0, 1);
            return min + (Peak - min) * (1 - Math.Sqrt(done));
        }
        double span = Math.Max(1, TotalSteps - WarmupSteps);
        double progress = Math.Clamp((step - WarmupSteps) / span, 0, 1);
        return min + 0.5 * (Peak - min) * (1 + Math.Cos(Math.PI * progress));
    }
}

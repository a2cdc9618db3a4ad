using System.Globalization;
using MimoSharp.Training.Distillation;
using MimoSharp.Training.Pretraining;
using MimoSharp.Training.Runs;

namespace MimoSharp.Cli.Commands;

/// <summary>
/// Draws the progress <c>mimo train</c> and <c>mimo distill</c> report on stderr. Scripts parse these lines from
/// nohup logs: their text is an interface.
/// </summary>
internal static class TrainingProgress
{
    /// <summary>"[#####---------------] step N/M": the bar of 20 cells both commands start their line with.</summary>
    public static string Bar(StepProgress p)
    {
        const int barWidth = 20;
        int filled = (int)(barWidth * p.Step / Math.Max(1, p.TotalSteps));
        return string.Create(CultureInfo.InvariantCulture, $"[{new string('#', filled)}{new string('-', barWidth - filled)}] step {p.Step}/{p.TotalSteps}");
    }

    /// <summary>"ETA h:mm:ss".</summary>
    public static string Eta(StepProgress p)
    {
        var eta = p.Eta;
        return string.Create(CultureInfo.InvariantCulture, $"ETA {(int)eta.TotalHours}:{eta.Minutes:D2}:{eta.Seconds:D2}");
    }
}

/// <summary>
/// <c>mimo train</c>'s progress: on a terminal one bar redrawn in place every step; otherwise (nohup logs) one line
/// per logged step, with the learning rate, gradient norm and expert load.
/// </summary>
internal sealed class TrainProgressBar(TextWriter log) : IProgress<TrainProgress>
{
    private readonly bool _interactive = ReferenceEquals(log, Console.Error) && !Console.IsErrorRedirected;
    private bool _drawn;

    public void Report(TrainProgress p)
    {
        if (p.Stopped)
        {
            if (_interactive && _drawn) log.WriteLine();
            return;
        }
        if (p.Logged is not { } point)
        {
            if (_interactive) Draw(Line(p));
            return;
        }
        string line = Line(p) + string.Create(CultureInfo.InvariantCulture, $" lr {point.LearningRate:0.###e+0} |g| {point.GradNorm:F2}");
        if (_interactive)
        {
            Draw(line);
        }
        else
        {
            log.WriteLine(line + (p.ExpertLoad.Length > 0 ? " | " + p.ExpertLoad : ""));
            log.Flush();
        }
    }

    private void Draw(string line)
    {
        int width = 100;
        try { width = Math.Max(40, Console.WindowWidth - 1); } catch (IOException) { }
        log.Write("\r" + (line.Length > width ? line[..width] : line.PadRight(width)));
        log.Flush();
        _drawn = true;
    }

    private static string Line(TrainProgress p) => string.Create(CultureInfo.InvariantCulture,
        $"{TrainingProgress.Bar(p)} loss {p.Loss:F3} mtp [{string.Join(" ", p.MtpLoss.Select(m => m.ToString("F2", CultureInfo.InvariantCulture)))}] " +
        $"{p.TokensPerSecond:N0} tok/s{Utilisation(p)} {TrainingProgress.Eta(p)}");

    /// <summary>" MFU 31%" of the measured matmul peak, or nothing when the peak is unknown.</summary>
    private static string Utilisation(TrainProgress p) =>
        p.PeakFlops > 0 ? string.Create(CultureInfo.InvariantCulture, $" MFU {100 * p.TokensPerSecond * p.FlopsPerToken / p.PeakFlops:F0}%") : "";
}

/// <summary><c>mimo distill</c>'s progress: one line per step.</summary>
internal sealed class DistillProgressLine(TextWriter log) : IProgress<DistillProgress>
{
    public void Report(DistillProgress p)
    {
        var point = p.Point;
        string domains = string.Join(" ", point.Domains.Select(d => string.Create(CultureInfo.InvariantCulture, $"{d.Key} {d.Value.ReverseKl:F3}")));
        string mismatch = point.RoutingMismatch is double m ? FormattableString.Invariant($"routing mismatch {m:P2} ") : "";
        log.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{TrainingProgress.Bar(p)} reverse KL {domains} | loss {point.PolicyLoss:F4} " +
            $"ratio {point.MeanRatio:F3} (>{p.ImportanceCap}: {point.TruncatedFraction:P1}) |g| {point.GradNorm:F2} " +
            $"{mismatch}{point.Seconds:F1}s/step {TrainingProgress.Eta(p)}"));
        log.Flush();
    }
}

using System.Globalization;

namespace MimoSharp.Training.Trainer;

/// <summary>The progress bar on stderr: redrawn in place on a terminal, one line per log interval otherwise (nohup logs).</summary>
internal sealed class Progress(TextWriter log, int totalSteps, double flopsPerToken = 0, double peakFlops = 0)
{
    private readonly bool _interactive = ReferenceEquals(log, Console.Error) && !Console.IsErrorRedirected;
    private bool _drawn;

    public void Tick(long step, double loss, double[] mtp, double tokensPerSecond, TimeSpan elapsed, int stepsThisRun)
    {
        if (!_interactive) return;
        Draw(Line(step, loss, mtp, tokensPerSecond, elapsed, stepsThisRun));
    }

    public void Report(long step, TrainPoint point, double tokensPerSecond, TimeSpan elapsed, int stepsThisRun, string loads)
    {
        string line = Line(step, point.Loss, point.MtpLoss, tokensPerSecond, elapsed, stepsThisRun)
                      + string.Create(CultureInfo.InvariantCulture, $" lr {point.LearningRate:0.###e+0} |g| {point.GradNorm:F2}");
        if (_interactive)
        {
            Draw(line);
        }
        else
        {
            log.WriteLine(line + (loads.Length > 0 ? " | " + loads : ""));
            log.Flush();
        }
    }

    public void Done()
    {
        if (_interactive && _drawn) log.WriteLine();
    }

    /// <summary>" MFU 31%" of the measured matmul peak, or nothing when the peak is unknown.</summary>
    private string Utilisation(double tokensPerSecond) =>
        peakFlops > 0 ? string.Create(CultureInfo.InvariantCulture, $" MFU {100 * tokensPerSecond * flopsPerToken / peakFlops:F0}%") : "";

    private void Draw(string line)
    {
        int width = 100;
        try { width = Math.Max(40, Console.WindowWidth - 1); } catch (IOException) { }
        log.Write("\r" + (line.Length > width ? line[..width] : line.PadRight(width)));
        log.Flush();
        _drawn = true;
    }

    private string Line(long step, double loss, double[] mtp, double tokensPerSecond, TimeSpan elapsed, int stepsThisRun)
    {
        const int barWidth = 20;
        int filled = (int)(barWidth * step / Math.Max(1, totalSteps));
        string bar = new string('#', filled) + new string('-', barWidth - filled);
        double perStep = stepsThisRun > 0 ? elapsed.TotalSeconds / stepsThisRun : 0;
        var eta = TimeSpan.FromSeconds(perStep * (totalSteps - step));
        return string.Create(CultureInfo.InvariantCulture,
            $"[{bar}] step {step}/{totalSteps} loss {loss:F3} mtp [{string.Join(" ", mtp.Select(m => m.ToString("F2", CultureInfo.InvariantCulture)))}] " +
            $"{tokensPerSecond:N0} tok/s{Utilisation(tokensPerSecond)} ETA {(int)eta.TotalHours}:{eta.Minutes:D2}:{eta.Seconds:D2}");
    }
}

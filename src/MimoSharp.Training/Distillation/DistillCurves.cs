using MimoSharp.Training.Trainer;

namespace MimoSharp.Training.Distillation;

/// <summary>The per-domain curves of a MOPD run as SVG files: reverse KL to each teacher, accuracy, reference NLL.</summary>
public static class DistillCurves
{
    private static readonly string[] Colors = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b"];

    public static IEnumerable<(string File, string Svg)> Draw(DistillState state, IReadOnlyList<string> domains)
    {
        var kl = new List<LossCurve.Series>();
        var accuracy = new List<LossCurve.Series>();
        var nll = new List<LossCurve.Series>();
        for (int i = 0; i < domains.Count; i++)
        {
            string d = domains[i], color = Colors[i % Colors.Length];
            // The per-step figure is noisy (a few prompts); a running mean over 5 steps shows the trend.
            var train = state.History.Where(p => p.Domains.ContainsKey(d)).Select(p => ((double)p.Step, p.Domains[d].ReverseKl)).ToList();
            kl.Add(new($"{d} (rollouts, 5-step mean)", color, Smooth(train, 5)));
            var evals = state.EvalHistory.Select(e => (e.Step, Eval: e.Domains.FirstOrDefault(x => x.Domain == d))).Where(e => e.Eval is not null).ToList();
            if (evals.Count > 0) kl.Add(new($"{d} (held-out)", color, evals.Select(e => ((double)e.Step, e.Eval!.ReverseKl)).ToList(), Dots: true));
            var acc = evals.Where(e => e.Eval!.Accuracy is not null).Select(e => ((double)e.Step, e.Eval!.Accuracy!.Value)).ToList();
            if (acc.Count > 0) accuracy.Add(new($"{d} (held-out, greedy)", color, acc, Dots: true));
            var refs = evals.Where(e => e.Eval!.ReferenceNll is not null).Select(e => ((double)e.Step, e.Eval!.ReferenceNll!.Value)).ToList();
            if (refs.Count > 0) nll.Add(new($"{d} (held-out)", color, refs, Dots: true));
        }
        string tail = $"step {state.Step}, {state.TokensSampled:N0} tokens sampled";
        yield return ("reverse_kl.svg", LossCurve.Svg(kl, $"MOPD: reverse KL to each domain teacher ({tail})", "KL(student ‖ teacher), nats/token"));
        if (accuracy.Count > 0) yield return ("accuracy.svg", LossCurve.Svg(accuracy, $"MOPD: exact-match accuracy ({tail})", "accuracy"));
        if (nll.Count > 0) yield return ("reference_nll.svg", LossCurve.Svg(nll, $"MOPD: reference continuation NLL ({tail})", "NLL (nats/token)"));
    }

    private static List<(double Step, double Value)> Smooth(List<(double Step, double Value)> points, int window)
    {
        var smooth = new List<(double, double)>(points.Count);
        for (int i = 0; i < points.Count; i++)
        {
            int from = Math.Max(0, i - window + 1);
            smooth.Add((points[i].Step, points.Skip(from).Take(i - from + 1).Average(p => p.Value)));
        }
        return smooth;
    }
}

using MimoSharp.Training.Runs;

namespace MimoSharp.Training.Distillation;

/// <summary>The per-domain curves of a MOPD run as SVG files: reverse KL to each teacher, accuracy, reference NLL.</summary>
public static class DistillCurves
{
    private static readonly string[] Colors = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b"];

    /// <summary>One run: per domain, reverse KL on the rollouts (5-step mean) and held-out; held-out accuracy and reference NLL.</summary>
    public static IEnumerable<(string File, string Svg)> Draw(DistillState state, IReadOnlyList<string> domains)
    {
        var accuracy = new List<LossCurve.Series>();
        var nll = new List<LossCurve.Series>();
        string tail = $"step {state.Step}, {state.TokensSampled:N0} tokens sampled";
        for (int i = 0; i < domains.Count; i++)
        {
            string d = domains[i], color = Colors[i % Colors.Length];
            // Scales differ by domain (arithmetic starts near 16 nats/token, code near 0.25): one picture each.
            var train = state.History.Where(p => p.Domains.ContainsKey(d)).Select(p => ((double)p.Step, p.Domains[d].ReverseKl)).ToList();
            var evals = Evals(state, d);
            var kl = new List<LossCurve.Series> { new("rollouts (5-step mean)", color, Smooth(train, 5)) };
            if (evals.Count > 0) kl.Add(new("held-out", "#333333", evals.Select(e => ((double)e.Step, e.Eval.ReverseKl)).ToList(), Dots: true));
            yield return ($"reverse_kl_{d}.svg", LossCurve.Svg(kl, $"MOPD {d}: reverse KL to the teacher ({tail})", "KL(student ‖ teacher), nats/token"));
            var acc = evals.Where(e => e.Eval.Accuracy is not null).Select(e => ((double)e.Step, e.Eval.Accuracy!.Value)).ToList();
            if (acc.Count > 0) accuracy.Add(new($"{d} (held-out, greedy)", color, acc, Dots: true));
            var refs = evals.Where(e => e.Eval.ReferenceNll is not null).Select(e => ((double)e.Step, e.Eval.ReferenceNll!.Value)).ToList();
            if (refs.Count > 0) nll.Add(new($"{d} (held-out)", color, refs, Dots: true));
        }
        if (accuracy.Count > 0) yield return ("accuracy.svg", LossCurve.Svg(accuracy, $"MOPD: exact-match accuracy ({tail})", "accuracy"));
        if (nll.Count > 0) yield return ("reference_nll.svg", LossCurve.Svg(nll, $"MOPD: reference continuation NLL ({tail})", "NLL (nats/token)"));
    }

    /// <summary>Several runs side by side: per domain, held-out reverse KL and reference NLL of each run.</summary>
    public static IEnumerable<(string File, string Svg)> Compare(IReadOnlyList<(string Run, DistillState State)> runs)
    {
        foreach (var d in runs.SelectMany(r => Domains(r.State)).Distinct().Order(StringComparer.Ordinal))
        {
            var kl = new List<LossCurve.Series>();
            var nll = new List<LossCurve.Series>();
            for (int i = 0; i < runs.Count; i++)
            {
                var evals = Evals(runs[i].State, d);
                string color = Colors[i % Colors.Length];
                kl.Add(new(runs[i].Run, color, evals.Select(e => ((double)e.Step, e.Eval.ReverseKl)).ToList(), Dots: true));
                var refs = evals.Where(e => e.Eval.ReferenceNll is not null).Select(e => ((double)e.Step, e.Eval.ReferenceNll!.Value)).ToList();
                if (refs.Count > 0) nll.Add(new(runs[i].Run, color, refs, Dots: true));
            }
            yield return ($"compare_{d}_reverse_kl.svg", LossCurve.Svg(kl, $"{d}: held-out reverse KL to the teacher", "KL(student ‖ teacher), nats/token"));
            if (nll.Count > 0) yield return ($"compare_{d}_reference_nll.svg", LossCurve.Svg(nll, $"{d}: held-out reference NLL", "NLL (nats/token)"));
        }
    }

    /// <summary>Every domain a run logged, in name order.</summary>
    public static List<string> Domains(DistillState state) =>
        state.History.SelectMany(p => p.Domains.Keys).Concat(state.EvalHistory.SelectMany(e => e.Domains.Select(d => d.Domain)))
            .Distinct().Order(StringComparer.Ordinal).ToList();

    private static List<(long Step, DomainEval Eval)> Evals(DistillState state, string domain) =>
        state.EvalHistory.Select(e => (e.Step, Eval: e.Domains.FirstOrDefault(x => x.Domain == domain)))
            .Where(e => e.Eval is not null).Select(e => (e.Step, e.Eval!)).ToList();

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

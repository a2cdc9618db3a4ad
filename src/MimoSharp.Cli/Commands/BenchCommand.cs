using System.CommandLine;
using System.Diagnostics;
using MimoSharp.Inference;
using MimoSharp.Model;

namespace MimoSharp.Cli.Commands;

/// <summary><c>mimo bench</c>: prefill and decode speed from token ids alone, with and without MTP drafting.</summary>
internal static class BenchCommand
{
    public static Command Create()
    {
        var model = Cli.ModelOption();
        var promptLen = new Option<int>("--prompt") { Description = "prompt tokens", DefaultValueFactory = _ => 64 };
        var gen = new Option<int>("--gen") { Description = "tokens to decode", DefaultValueFactory = _ => 64 };
        var reps = new Option<int>("--repeat") { Description = "alternating repetitions; medians are reported", DefaultValueFactory = _ => 3 };
        var threads = Cli.ThreadsOption();
        var json = Cli.JsonOption();
        var cmd = new Command("bench", "measure prefill and decode tokens/s (plain and speculative, alternating)") { model, promptLen, gen, reps, threads, json };
        cmd.SetAction(r => Cli.Run(() =>
        {
            Tensors.MatMul.MaxThreads = Math.Max(1, r.GetValue(threads));
            using var m = MimoModel.Load(Cli.ResolveModel(r.GetValue(model)));
            int p = r.GetValue(promptLen), g = r.GetValue(gen), n = Math.Max(1, r.GetValue(reps));
            if (p < 1 || g < 2) throw new ArgumentException("--prompt must be ≥ 1 and --gen ≥ 2");
            var rng = new Random(1234);
            var prompt = Enumerable.Range(0, p).Select(_ => rng.Next(m.VocabSize)).ToArray();
            int k = m.MtpLayers.Count;
            var plain = new List<GenerationStats>();
            var spec = new List<GenerationStats>();
            for (int i = 0; i < n; i++)
            {
                plain.Add(Run(m, prompt, g, 0));
                if (k > 0) spec.Add(Run(m, prompt, g, k));
                Console.Error.WriteLine($"[{i + 1}/{n}] plain {plain[^1].DecodeTokensPerSecond:F1} tok/s"
                    + (k > 0 ? $", speculative K={k} {spec[^1].DecodeTokensPerSecond:F1} tok/s (acceptance length {spec[^1].AcceptanceLength:F2})" : ""));
            }
            var result = new
            {
                model = Cli.ResolveModel(r.GetValue(model)),
                threads = Tensors.MatMul.MaxThreads,
                prompt_tokens = p,
                generated_tokens = g,
                prefill_tokens_per_s = Median(plain.Select(s => s.PrefillTokensPerSecond)),
                decode_tokens_per_s = Median(plain.Select(s => s.DecodeTokensPerSecond)),
                speculative_k = k,
                speculative_decode_tokens_per_s = k > 0 ? Median(spec.Select(s => s.DecodeTokensPerSecond)) : (double?)null,
                acceptance_length = k > 0 ? Median(spec.Select(s => s.AcceptanceLength)) : (double?)null,
                peak_rss_bytes = Process.GetCurrentProcess().PeakWorkingSet64,
            };
            if (r.GetValue(json)) Cli.WriteJson(result);
            else
            {
                Console.WriteLine($"prefill  {result.prefill_tokens_per_s,10:F1} tok/s ({p} tokens)");
                Console.WriteLine($"decode   {result.decode_tokens_per_s,10:F1} tok/s ({g} tokens, plain)");
                if (k > 0) Console.WriteLine($"decode   {result.speculative_decode_tokens_per_s,10:F1} tok/s (speculative K={k}, acceptance length {result.acceptance_length:F2})");
                Console.WriteLine($"peak RSS {result.peak_rss_bytes / (1024.0 * 1024):F1} MiB");
            }
            return 0;
        }));
        return cmd;
    }

    private static GenerationStats Run(MimoModel m, int[] prompt, int gen, int k)
    {
        var g = new Generator(m, new GenerationOptions { MaxTokens = gen, Speculative = k });
        foreach (var _ in g.Generate(prompt)) { }
        return g.Stats;
    }

    private static double Median(IEnumerable<double> xs)
    {
        var a = xs.Order().ToArray();
        return a.Length == 0 ? 0 : a.Length % 2 == 1 ? a[a.Length / 2] : (a[a.Length / 2 - 1] + a[a.Length / 2]) / 2;
    }
}

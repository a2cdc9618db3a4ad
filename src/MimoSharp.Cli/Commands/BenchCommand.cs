using System.CommandLine;
using System.Diagnostics;
using MimoSharp.Inference;
using MimoSharp.Model;

namespace MimoSharp.Cli.Commands;

/// <summary>
/// <c>mimo bench</c>: prefill and decode speed from token ids alone. Plain decoding, every fixed draft
/// depth and the adaptive policy run alternately in one process, so a noisy machine affects them alike;
/// medians are reported.
/// </summary>
internal static class BenchCommand
{
    public static Command Create()
    {
        var model = Cli.ModelOption();
        var promptLen = new Option<int>("--prompt") { Description = "prompt tokens", DefaultValueFactory = _ => 64 };
        var gen = new Option<int>("--gen") { Description = "tokens to decode", DefaultValueFactory = _ => 64 };
        var reps = new Option<int>("--repeat") { Description = "alternating repetitions; medians are reported", DefaultValueFactory = _ => 3 };
        var text = new Option<string?>("--text") { Description = "prompt text instead of random ids (needs tokenizer.json); a real prompt shows real acceptance" };
        var textFile = new Option<FileInfo?>("--text-file") { Description = "prompt from a text file: its first --prompt tokens (repeated if shorter)" };
        var bandwidth = new Option<double?>("--bandwidth") { Description = "memory bandwidth in GB/s for the limit (default: measured here with a streaming read)" };
        var threads = Cli.ThreadsOption();
        var quant = Cli.QuantOption();
        var kvCache = Cli.KvCacheOption();
        var json = Cli.JsonOption();
        var plainOnly = new Option<bool>("--plain") { Description = "plain decoding only, no speculative runs (context sweeps: scripts/bench-context.sh)" };
        var adaptiveOnly = new Option<bool>("--adaptive") { Description = "plain decoding against the adaptive policy only, a step of each in turn (is the default ever slower than plain?)" };
        var batchSize = new Option<int>("--batch") { Description = "sequences decoded together in one batch (continuous batching); tok/s are their total", DefaultValueFactory = _ => 1 };
        var cmd = new Command("bench", "measure prefill and decode tokens/s (plain, speculative per depth, adaptive)") { model, quant, kvCache, promptLen, gen, reps, text, textFile, bandwidth, threads, plainOnly, adaptiveOnly, batchSize, json };
        cmd.SetAction(r => Cli.Run(() =>
        {
            string dir = Cli.ResolveModel(r.GetValue(model));
            using var m = Cli.LoadModel(dir, r.GetValue(quant), Cli.Threads(r, threads), r.GetValue(kvCache)!);
            int p = r.GetValue(promptLen), g = r.GetValue(gen), n = Math.Max(1, r.GetValue(reps));
            int batch = r.GetValue(batchSize);
            if (p < 1 || g < 2) throw new ArgumentException("--prompt must be ≥ 1 and --gen ≥ 2");
            if (batch < 1) throw new ArgumentException("--batch must be ≥ 1");
            int[] prompt;
            if (r.GetValue(text) is string t)
            {
                prompt = (Cli.TryLoadTokenizer(dir) ?? throw new ArgumentException($"--text needs {Path.Combine(dir, "tokenizer.json")}")).Encode(t);
            }
            else if (r.GetValue(textFile) is FileInfo file)
            {
                if (!file.Exists) throw new ArgumentException($"--text-file {file.FullName} does not exist");
                var ids = (Cli.TryLoadTokenizer(dir) ?? throw new ArgumentException($"--text-file needs {Path.Combine(dir, "tokenizer.json")}"))
                    .Encode(File.ReadAllText(file.FullName));
                if (ids.Length == 0) throw new ArgumentException($"--text-file {file.FullName} holds no text");
                prompt = Enumerable.Range(0, p).Select(i => ids[i % ids.Length]).ToArray();
            }
            else
            {
                var rng = new Random(1234);
                prompt = Enumerable.Range(0, p).Select(_ => rng.Next(m.VocabSize)).ToArray();
            }
            int kMax = r.GetValue(plainOnly) ? 0 : m.MtpLayers.Count;
            var configs = new List<(string Name, GenerationOptions Options)> { ("plain", new GenerationOptions { MaxTokens = g }) };
            int fixedMax = r.GetValue(adaptiveOnly) ? 0 : kMax;
            for (int k = 1; k <= fixedMax; k++) configs.Add(($"K={k}", new GenerationOptions { MaxTokens = g, Speculative = k }));
            if (kMax > 0) configs.Add(("adaptive", new GenerationOptions { MaxTokens = g, Speculative = kMax, AdaptiveSpeculation = true }));
            // The batch's prompts: the prompt rotated by a few tokens per sequence (same length, different text, so rows
            // route to different experts as real requests do).
            var prompts = Enumerable.Range(0, batch).Select(b => prompt.Skip(b * 7 % prompt.Length).Concat(prompt.Take(b * 7 % prompt.Length)).ToArray()).ToArray();
            var runs = configs.Select(_ => new List<BenchRun>()).ToArray();
            for (int i = 0; i < n; i++)
            {
                if (fixedMax == 0 && configs.Count == 2)
                {
                    // Plain against adaptive only: step by step in turn, so that the machine's noise hits both alike.
                    var (plainRun, adaptiveRun) = BenchRun.MeasureInterleaved(m, prompts, configs[0].Options, configs[1].Options);
                    runs[0].Add(plainRun);
                    runs[1].Add(adaptiveRun);
                }
                else
                    for (int c = 0; c < configs.Count; c++) runs[c].Add(BenchRun.Measure(m, prompts, configs[c].Options));
                Console.Error.WriteLine($"[{i + 1}/{n}] " + string.Join(", ", configs.Select((c, j) => $"{c.Name} {runs[j][^1].DecodeTokensPerSecond:F1} tok/s")));
            }
            double Med(int c, Func<BenchRun, double> f) => Median(runs[c].Select(f));
            double plainRate = Med(0, s => s.DecodeTokensPerSecond);
            long peakRss = Process.GetCurrentProcess().PeakWorkingSet64; // before the bandwidth probe's buffer
            long bytesPerToken = m.ActiveWeightBytesPerToken();
            // Each decoded token also reads the whole KV cache once: at long contexts that is most of the bytes. Counted at
            // the middle of the decoded span, in the cache's dtype (the window layers hold a fixed amount).
            long kvBytesPerToken = ModelSummary.Of(m).KvBytesFor(prompt.Length + g / 2);
            double bandwidthBytes = r.GetValue(bandwidth) is double gbps ? gbps * 1e9 : Tensors.MemoryBandwidth.MeasureBytesPerSecond(m.Threads);
            double limit = bandwidthBytes / (bytesPerToken + kvBytesPerToken);
            // The step's roofline at the middle of the decoded span: plain and each depth at its measured acceptance.
            // The share of its bytes the last-level cache can hold comes at the cache's bandwidth.
            var roofline = new DecodeRoofline(m, bandwidthBytes, Tensors.ComputePeak.MeasureFlopsPerSecond(m.Threads), DecodeRoofline.MeasureCache(m.Threads));
            int context = prompt.Length + g / 2;
            double rooflineBandwidth = roofline.BandwidthFor(batch, context), workingSet = roofline.WorkingSetBytes(batch, context);
            string tier = roofline.Cache is { } cache
                ? $"{roofline.CacheHitFraction(batch, context):P0} of the {workingSet / 1e6:F1} MB working set from the {cache.CapacityBytes >> 20} MiB cache at {cache.BandwidthBytesPerSecond / 1e9:F1} GB/s, the rest from DRAM at {bandwidthBytes / 1e9:F1} GB/s"
                : $"DRAM {bandwidthBytes / 1e9:F1} GB/s";
            var perDepth = Enumerable.Range(1, fixedMax).Select(k => new
            {
                k,
                decode_tokens_per_s = Med(k, s => s.DecodeTokensPerSecond),
                acceptance_length = Med(k, s => s.AcceptanceLength),
                accepted_per_depth = runs[k][^1].AcceptedPerDepth,
                speedup = Med(k, s => s.DecodeTokensPerSecond) / plainRate,
                // Break-even: the acceptance length at which this depth's step cost equals plain decoding's.
                break_even_acceptance_length = Med(k, s => s.DecodeSteps > 0 ? s.DecodeSeconds / s.DecodeSteps : 0)
                    / Med(0, s => s.DecodeSteps > 0 ? s.DecodeSeconds / s.DecodeSteps : 1),
                roofline_speedup = roofline.Speedup(batch, context, k, Math.Max(1, Med(k, s => s.AcceptanceLength))),
                roofline_break_even_acceptance_length = roofline.BreakEvenAcceptance(batch, context, k),
            }).ToArray();
            var plainStep = roofline.Step(batch, context, 0, 1);
            var result = new
            {
                model = dir,
                threads = m.Threads,
                batch,
                prompt_tokens = prompt.Length,
                generated_tokens = g,
                prefill_tokens_per_s = Med(0, s => s.PrefillTokensPerSecond),
                decode_tokens_per_s = plainRate,
                speculative_k = kMax,
                speculative_decode_tokens_per_s = kMax > 0 ? Med(configs.Count - 1, s => s.DecodeTokensPerSecond) : (double?)null,
                acceptance_length = kMax > 0 ? Med(configs.Count - 1, s => s.AcceptanceLength) : (double?)null,
                speculative_fixed = perDepth,
                quant = m.Quantization?.ToString().ToLowerInvariant() ?? "none",
                bytes_per_token = bytesPerToken,
                kv_bytes_per_token = kvBytesPerToken,
                bandwidth_bytes_per_s = bandwidthBytes,
                bandwidth_limit_tokens_per_s = limit,
                fraction_of_limit = plainRate / limit,
                peak_flops_per_s = roofline.PeakFlopsPerSecond,
                cache_bytes = roofline.Cache?.CapacityBytes,
                cache_bandwidth_bytes_per_s = roofline.Cache?.BandwidthBytesPerSecond,
                working_set_bytes = workingSet,
                roofline_bandwidth_bytes_per_s = rooflineBandwidth,
                cache_hit_fraction = roofline.CacheHitFraction(batch, context),
                roofline_tokens_per_s = batch / plainStep.Seconds,
                roofline_flops_per_byte = plainStep.Flops / plainStep.Bytes,
                weights_bytes = m.Layers.Sum(l => l.Attention.Weights.Sum(w => w.StoredBytes) + l.FeedForward.Weights.Sum(w => w.StoredBytes)),
                peak_rss_bytes = peakRss,
            };
            if (r.GetValue(json)) Cli.WriteJson(result);
            else
            {
                Console.WriteLine($"prefill   {result.prefill_tokens_per_s,10:F1} tok/s ({prompt.Length} tokens)");
                Console.WriteLine($"decode    {plainRate,10:F1} tok/s ({g} tokens, plain; {result.fraction_of_limit:P0} of the {limit:F0} tok/s limit = {bandwidthBytes / 1e9:F1} GB/s / ({bytesPerToken / 1e6:F1} MB weights + {kvBytesPerToken / 1e6:F1} MB KV cache) per token)");
                if (batch > 1) Console.WriteLine($"batch     {batch} sequences decoded together; tok/s are their total");
                Console.WriteLine($"roofline  {result.roofline_tokens_per_s,10:F1} tok/s plain ({plainStep.Flops / plainStep.Bytes:F2} FLOP/byte against a ridge of {roofline.PeakFlopsPerSecond / rooflineBandwidth:F1} = {roofline.PeakFlopsPerSecond / 1e9:F0} GFLOP/s / {rooflineBandwidth / 1e9:F1} GB/s; {tier})");
                foreach (var d in perDepth)
                    Console.WriteLine($"decode    {d.decode_tokens_per_s,10:F1} tok/s (K={d.k}: acceptance length {d.acceptance_length:F2}, break-even {d.break_even_acceptance_length:F2} (roofline {d.roofline_break_even_acceptance_length:F2}), speed-up {d.speedup:F2}x (roofline {d.roofline_speedup:F2}x))");
                if (kMax > 0) Console.WriteLine($"decode    {result.speculative_decode_tokens_per_s,10:F1} tok/s (adaptive up to K={kMax}, acceptance length {result.acceptance_length:F2})");
                Console.WriteLine($"peak RSS  {result.peak_rss_bytes / (1024.0 * 1024):F1} MiB");
            }
            return 0;
        }));
        return cmd;
    }

    /// <summary>One measured run of a configuration: one sequence, or a batch decoded together (their totals).</summary>
    private sealed record BenchRun(double PrefillTokensPerSecond, double DecodeTokensPerSecond, double AcceptanceLength,
        double[] AcceptedPerDepth, int DecodeSteps, double DecodeSeconds)
    {
        public static BenchRun Measure(MimoModel model, int[][] prompts, GenerationOptions options)
        {
            if (prompts.Length == 1)
            {
                var one = new Generator(model, options);
                foreach (var _ in one.Generate(prompts[0])) { }
                var st = one.Stats;
                return new(st.PrefillTokensPerSecond, st.DecodeTokensPerSecond, st.AcceptanceLength, st.AcceptedPerDepth, st.DecodeSteps, st.DecodeSeconds);
            }
            var sequences = prompts.Select(p => new DecodeSequence(model, p, options)).ToArray();
            var decoder = new BatchDecoder(model);
            var clock = Stopwatch.StartNew();
            while (sequences.Any(s => s.Generated.Count == 0 && !s.IsFinished)) decoder.Step(sequences);   // prefill: each emits its first token
            double prefill = clock.Elapsed.TotalSeconds;
            int firstTokens = sequences.Sum(s => s.Generated.Count), steps = 0;
            clock.Restart();
            while (sequences.Any(s => !s.IsFinished))
            {
                decoder.Step(sequences);
                steps++;
            }
            double decode = clock.Elapsed.TotalSeconds;
            int tokens = sequences.Sum(s => s.Generated.Count) - firstTokens;
            return new(prompts.Sum(p => p.Length) / prefill, tokens / decode, sequences.Average(s => s.Stats.AcceptanceLength),
                sequences[0].Stats.AcceptedPerDepth, steps, decode);
        }

        /// <summary>
        /// Two configurations' runs of the same prompts, decoded a step of one, then a step of the other (then the other
        /// first); each one's decode time is the sum of its own steps after the prefill, so slow spells of a shared
        /// machine fall on both.
        /// </summary>
        public static (BenchRun A, BenchRun B) MeasureInterleaved(MimoModel model, int[][] prompts, GenerationOptions a, GenerationOptions b)
        {
            var sides = new[] { a, b }.Select(o => (Sequences: prompts.Select(p => new DecodeSequence(model, p, o)).ToArray(), Decoder: new BatchDecoder(model))).ToArray();
            var prefill = new double[2];
            var decode = new double[2];
            var steps = new int[2];
            var first = new int[2];
            for (int i = 0; i < 2; i++)
            {
                var clock = Stopwatch.StartNew();
                while (sides[i].Sequences.Any(s => s.Generated.Count == 0 && !s.IsFinished)) sides[i].Decoder.Step(sides[i].Sequences);
                prefill[i] = clock.Elapsed.TotalSeconds;
                first[i] = sides[i].Sequences.Sum(s => s.Generated.Count);
            }
            // Which side goes first alternates, so neither always finds the weights just warmed by the other.
            for (int round = 0; sides.Any(side => side.Sequences.Any(s => !s.IsFinished)); round++)
                for (int j = 0; j < 2; j++)
                {
                    int i = (j + round) % 2;
                    if (sides[i].Sequences.All(s => s.IsFinished)) continue;
                    long started = Stopwatch.GetTimestamp();
                    sides[i].Decoder.Step(sides[i].Sequences);
                    decode[i] += Stopwatch.GetElapsedTime(started).TotalSeconds;
                    steps[i]++;
                }
            BenchRun Result(int i)
            {
                var seqs = sides[i].Sequences;
                return new(prompts.Sum(p => p.Length) / prefill[i], (seqs.Sum(s => s.Generated.Count) - first[i]) / decode[i],
                    seqs.Average(s => s.Stats.AcceptanceLength), seqs[0].Stats.AcceptedPerDepth, steps[i], decode[i]);
            }
            return (Result(0), Result(1));
        }
    }

    private static double Median(IEnumerable<double> xs)
    {
        var a = xs.Order().ToArray();
        return a.Length == 0 ? 0 : a.Length % 2 == 1 ? a[a.Length / 2] : (a[a.Length / 2 - 1] + a[a.Length / 2]) / 2;
    }
}

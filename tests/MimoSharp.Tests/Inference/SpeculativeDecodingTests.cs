using MimoSharp.Inference;
using MimoSharp.Model;
using MimoSharp.Tests.Support;

namespace MimoSharp.Tests.Inference;

/// <summary>
/// Random fixture weights make the real MTP drafts almost always wrong, so these tests also drive the
/// verify loop with drafts that are often right: the main model itself, optionally perturbed.
/// </summary>
public sealed class SpeculativeDecodingTests
{
    /// <summary>
    /// Drafts with the main model (recomputed from scratch), its logits multiplied by <paramref name="sharpen"/>
    /// (q more peaked than p) plus optional deterministic noise.
    /// </summary>
    private sealed class OracleDrafter(MimoModel model, int depths, float noise, float sharpen = 1f) : IDraftSource
    {
        public int Depths => depths;
        public void ObserveHidden(int start, ReadOnlySpan<float> hidden, int count) { }
        public void TruncateHidden(int count) { }

        public void DraftLogits(int depth, int n, IReadOnlyList<int> tokens, Span<float> logits)
        {
            var seq = tokens.Take(n + depth + 1).ToArray();
            var outs = TeacherForcing.Run(model, seq);
            int v = model.VocabSize;
            outs.Logits.AsSpan((seq.Length - 1) * v, v).CopyTo(logits);
            for (int i = 0; i < v; i++) logits[i] *= sharpen;
            if (noise == 0) return;
            var rng = new Random(seq.Length * 7919 + seq[^1]);
            for (int i = 0; i < v; i++) logits[i] += noise * (float)(rng.NextDouble() * 2 - 1);
        }
    }

    public static TheoryData<string> All() => new(Fixtures.Names);

    [Theory]
    [MemberData(nameof(All))]
    public void GreedyWithGoodDraftsEqualsPlainAndAcceptsThem(string fixture)
    {
        using var model = MimoModel.Load(Fixtures.Dir(fixture));
        int[] prompt = [7, 3, 9, 4];
        var plain = new Generator(model, new GenerationOptions { MaxTokens = 40 }).Generate(prompt).ToArray();
        foreach (float noise in new[] { 0f, 2f })
        {
            for (int k = 1; k <= 3; k++)
            {
                var gen = new Generator(model, new GenerationOptions { MaxTokens = 40, Speculative = k }, _ => new OracleDrafter(model, k, noise));
                Assert.Equal(plain, gen.Generate(prompt).ToArray());
                if (noise == 0) Assert.True(gen.Stats.AcceptanceLength > k, $"perfect drafts must be accepted (got {gen.Stats.AcceptanceLength})");
            }
        }
    }

    [Theory]
    [InlineData("tiny_fp8")]
    [InlineData("tiny_fp8_release")]
    [InlineData("tiny_bf16")]
    public void AdaptiveDepthKeepsGreedyOutput(string fixture)
    {
        // Which depth the policy picks is timing-dependent; none of it may change a greedy token.
        using var model = MimoModel.Load(Fixtures.Dir(fixture));
        int[] prompt = [7, 3, 9, 4];
        var plain = new Generator(model, new GenerationOptions { MaxTokens = 60 }).Generate(prompt).ToArray();
        var adaptive = new Generator(model, new GenerationOptions { MaxTokens = 60, Speculative = model.MtpLayers.Count, AdaptiveSpeculation = true });
        Assert.Equal(plain, adaptive.Generate(prompt).ToArray());
        var oracle = new Generator(model, new GenerationOptions { MaxTokens = 60, Speculative = 3, AdaptiveSpeculation = true },
            _ => new OracleDrafter(model, 3, 0));
        Assert.Equal(plain, oracle.Generate(prompt).ToArray());
    }

    /// <summary>
    /// The depth switching mid-sequence in every way the policy may switch it: long plain stretches (past the sliding
    /// window, so the MTP caches catch up lazily on the last window only), a jump to the deepest depth, one depth at a
    /// time, back to plain for a single step. Greedy output stays plain's, for one sequence and for a batch.
    /// </summary>
    [Theory]
    [InlineData("tiny_fp8")]
    [InlineData("tiny_bf16")]
    [InlineData("tiny_f32")]
    public void SwitchingDepthMidSequenceKeepsGreedyOutput(string fixture)
    {
        using var model = MimoModel.Load(Fixtures.Dir(fixture));
        int window = model.Config.SlidingWindow, layers = model.MtpLayers.Count;
        Assert.True(layers > 0);
        var rng = new Random(5);
        // Plain runs of 1, a window and 3 windows; depth jumps and climbs.
        var depths = new List<int>();
        foreach (int run in new[] { 1, window + 2, 1, 3 * window, 2, 1, window })
        {
            depths.AddRange(Enumerable.Repeat(0, run));
            for (int j = 0; j < 3; j++) depths.Add(rng.Next(1, layers + 1));
        }
        int[][] prompts = [[7, 3, 9, 4], [5], [11, 42, 7, 19, 3, 2, 8, 1, 6, 4, 13]];
        var options = new GenerationOptions { MaxTokens = 120, Speculative = layers, AdaptiveSpeculation = true };
        var plain = prompts.Select(p => new Generator(model, options with { Speculative = 0, AdaptiveSpeculation = false }).Generate(p).ToArray()).ToArray();

        foreach (int batch in new[] { 1, 3 })
        {
            var sequences = prompts.Take(batch).Select(p => new DecodeSequence(model, p, options)).ToArray();
            var decoder = new BatchDecoder(model);
            for (int step = 0; sequences.Any(s => !s.IsFinished); step++)
                decoder.Step(sequences, depths[step % depths.Count]);
            for (int i = 0; i < batch; i++) Assert.Equal(plain[i], sequences[i].Generated);
            Assert.True(sequences[0].Stats.DraftsProposed[0] > 0);
        }
    }

    /// <summary>A simulated machine: the policy must settle on the depth with the best tokens per second, and where no depth pays, probe rarely.</summary>
    [Theory]
    [InlineData(0.9, 3, false)]    // cheap drafts, often right: the deepest depth pays
    [InlineData(0.1, 0, false)]    // expensive drafts, rarely right: plain decoding
    [InlineData(0.1, 0, true)]     // the same with a roofline prior (a fixture's shape on a made-up machine)
    public void AdaptivePolicyPicksTheDepthWithTheBestTokensPerSecond(double acceptance, int expected, bool withPrior)
    {
        // Plain step 1 ms; each depth adds 0.1 ms when drafts are cheap, 1 ms otherwise; catching a depth up on the
        // window after plain steps costs 10 ms.
        double perDepth = acceptance > 0.5 ? 0.0001 : 0.001;
        using var model = withPrior ? MimoModel.Load(Fixtures.Dir("tiny_f32")) : null;
        Func<int, int, double, DecodeRoofline>? prior = model is null ? null : (batch, context, plain) => new DecodeRoofline(model, 50e9, 200e9);
        var policy = new AdaptiveDraftLength(3, prior, slidingWindow: 128, mainLayers: 6);
        var rng = new Random(3);
        var lastUsed = new int[4];   // the last step each depth drafted at; a depth idle for more than 8 steps catches up
        Array.Fill(lastUsed, -1000);
        int chosenBest = 0;
        double total = 0, excess = 0;
        const int steps = 20_000;
        for (int step = 0; step < steps; step++)
        {
            int k = policy.Next(1, 1000);
            double seconds = 0.001 + k * perDepth;
            bool caughtUp = false;
            for (int d = 1; d <= k; d++)
            {
                if (step - lastUsed[d] > 8) { seconds += 0.010; caughtUp = true; }
                lastUsed[d] = step;
            }
            int accepted = 0;
            while (accepted < k && rng.NextDouble() < acceptance) accepted++;
            policy.RecordAcceptance(k, accepted);
            policy.RecordStep(k, 1, seconds, accepted + 1, prefill: false, caughtUp);
            total += seconds;
            // What the best depth would have spent on these tokens.
            double bestSecondsPerToken = (0.001 + expected * perDepth) / ExpectedLength(acceptance, expected);
            excess += seconds - (accepted + 1) * bestSecondsPerToken;
            if (step >= steps - 1000 && k == expected) chosenBest++;
        }
        Assert.True(chosenBest >= 900, $"the best depth {expected} was chosen in {chosenBest} of the last 1000 steps (the rest: probes)");
        if (expected == 0) Assert.True(excess / total < 0.03, $"exploration cost {excess / total:P1} of the time beyond plain decoding");
        Assert.True(policy.ProbeStepCount > 0, "the policy must keep probing now and then");
    }

    private static double ExpectedLength(double a, int k)
    {
        double e = 1, chain = 1;
        for (int j = 0; j < k; j++) e += chain *= a;
        return e;
    }

    [Fact]
    public void StopTokenInsideAnAcceptedDraftAndMaxTokensMidDraft()
    {
        using var model = MimoModel.Load(Fixtures.Dir("tiny_bf16"));
        int[] prompt = [7, 3, 9, 4];
        var plain = new Generator(model, new GenerationOptions { MaxTokens = 30 }).Generate(prompt).ToArray();
        int stopAt = Enumerable.Range(3, 20).First(i => Array.IndexOf(plain, plain[i]) == i);
        for (int k = 1; k <= 3; k++)
        {
            var stopped = new Generator(model, new GenerationOptions { MaxTokens = 30, Speculative = k, StopTokens = [plain[stopAt]] },
                _ => new OracleDrafter(model, k, 0)).Generate(prompt).ToArray();
            Assert.Equal(plain[..(stopAt + 1)], stopped);
            foreach (int max in new[] { 1, 2, 5, 7 })
            {
                var g = new Generator(model, new GenerationOptions { MaxTokens = max, Speculative = k }, _ => new OracleDrafter(model, k, 0));
                Assert.Equal(plain[..max], g.Generate(prompt).ToArray());
                Assert.Equal(max, g.Stats.GeneratedTokens);
            }
        }
    }

    [Fact]
    public void PromptShorterThanTheWindowAndSingleTokenPrompt()
    {
        using var model = MimoModel.Load(Fixtures.Dir("tiny_fp8"));
        foreach (int[] prompt in new[] { new[] { 5 }, new[] { 5, 6 } })
        {
            var plain = new Generator(model, new GenerationOptions { MaxTokens = 20 }).Generate(prompt).ToArray();
            for (int k = 0; k <= model.MtpLayers.Count; k++)
                Assert.Equal(plain, new Generator(model, new GenerationOptions { MaxTokens = 20, Speculative = k }).Generate(prompt).ToArray());
        }
    }

    /// <summary>
    /// Sampled speculative decoding must keep the target distribution. With top-k 3 the first three generated
    /// tokens have at most 27 outcomes whose exact probabilities we compute from the main model; samples of
    /// plain and speculative decoding are each tested against them with a chi-square goodness-of-fit test at
    /// a false-failure rate of 1e-4 per check.
    /// </summary>
    [Theory]
    [InlineData("tiny_f32", "mtp")]
    [InlineData("tiny_f32", "oracle")]
    [InlineData("tiny_f32", "plain")]
    [InlineData("tiny_f32", "switching")]
    public void SampledSpeculativeDecodingKeepsTheTargetDistribution(string fixture, string drafts)
    {
        using var model = MimoModel.Load(Fixtures.Dir(fixture));
        int[] prompt = [11, 42, 7, 19, 3];
        var sampling = new SamplingOptions { Temperature = 1.5f, TopK = 3 };
        var exact = ExactJoint(model, prompt, sampling, 3);

        const int samples = 1500;
        var counts = new Dictionary<(int, int, int), int>();
        for (int s = 0; s < samples; s++)
        {
            var opts = new GenerationOptions { MaxTokens = 3, Sampling = sampling with { Seed = (ulong)s + 1 } };
            int[] t;
            if (drafts == "switching")
            {
                // The depth changes from step to step (as the adaptive policy may change it), differently per sample; drafts
                // that are often accepted, so that every depth's accept and residual paths run.
                var sequence = new DecodeSequence(model, prompt, opts with { Speculative = 2, AdaptiveSpeculation = true },
                    _ => new OracleDrafter(model, 2, noise: 0.3f, sharpen: 3f));
                var decoder = new BatchDecoder(model);
                for (int step = 0; !sequence.IsFinished; step++) decoder.Step([sequence], (s + step) % 3);
                t = [.. sequence.Generated];
            }
            else
            {
                var gen = drafts switch
                {
                    "plain" => new Generator(model, opts),
                    "mtp" => new Generator(model, opts with { Speculative = model.MtpLayers.Count }),
                    _ => new Generator(model, opts with { Speculative = 2 }, _ => new OracleDrafter(model, 2, noise: 0.3f, sharpen: 3f)),
                };
                t = gen.Generate(prompt).ToArray();
            }
            var key = (t[0], t[1], t[2]);
            Assert.True(exact.ContainsKey(key), $"sampled {key}, which has probability 0 under the target");
            counts[key] = counts.GetValueOrDefault(key) + 1;
        }

        // Pool outcomes with expected count < 5 into one cell, as the chi-square approximation needs.
        double stat = 0, pooledE = 0, pooledO = 0;
        int cells = 0;
        foreach (var (key, p) in exact)
        {
            double e = p * samples, o = counts.GetValueOrDefault(key);
            if (e < 5) { pooledE += e; pooledO += o; continue; }
            stat += (o - e) * (o - e) / e;
            cells++;
        }
        if (pooledE > 0) { stat += (pooledO - pooledE) * (pooledO - pooledE) / pooledE; cells++; }
        int df = Math.Max(1, cells - 1);
        const double z = 3.719; // upper 1e-4 normal quantile; Wilson–Hilferty approximation of the chi-square quantile
        double critical = df * Math.Pow(1 - 2.0 / (9 * df) + z * Math.Sqrt(2.0 / (9 * df)), 3);
        Assert.True(stat < critical, $"chi-square {stat:F1} ≥ critical {critical:F1} (df {df}): the {drafts} path does not sample the target distribution");
    }

    /// <summary>Exact probability of every length-<paramref name="depth"/> continuation under plain sampling.</summary>
    private static Dictionary<(int, int, int), double> ExactJoint(MimoModel model, int[] prompt, SamplingOptions sampling, int depth)
    {
        var result = new Dictionary<(int, int, int), double>();
        var sampler = new Sampler(sampling);
        int v = model.VocabSize;

        float[] Dist(int[] seq)
        {
            var outs = TeacherForcing.Run(model, seq);
            var logits = outs.Logits.AsSpan((seq.Length - 1) * v, v).ToArray();
            var p = new float[v];
            sampler.Distribution(logits, seq, p);
            return p;
        }

        var p1 = Dist(prompt);
        for (int a = 0; a < v; a++)
        {
            if (p1[a] == 0) continue;
            var p2 = Dist([.. prompt, a]);
            for (int b = 0; b < v; b++)
            {
                if (p2[b] == 0) continue;
                var p3 = Dist([.. prompt, a, b]);
                for (int c = 0; c < v; c++)
                    if (p3[c] > 0) result[(a, b, c)] = (double)p1[a] * p2[b] * p3[c];
            }
        }
        return result;
    }
}

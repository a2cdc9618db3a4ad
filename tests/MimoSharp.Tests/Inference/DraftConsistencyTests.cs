using MimoSharp.Inference;
using MimoSharp.Model;
using MimoSharp.Tests.Support;

namespace MimoSharp.Tests.Inference;

/// <summary>
/// Greedy output cannot reveal a stale MTP cache (a bad draft is just rejected), so this checks the drafts
/// themselves: at every step of speculative decoding, each depth's incremental draft logits must equal the
/// teacher-forced definition (spec §7) recomputed from scratch on the current sequence and drafts.
/// </summary>
public sealed class DraftConsistencyTests
{
    private sealed class CheckedDrafter(MimoModel model, MtpDrafter inner) : IDraftSource
    {
        public int Checks { get; private set; }
        public double MaxGap { get; private set; }
        public int Depths => inner.Depths;
        public void ObserveHidden(int start, ReadOnlySpan<float> hidden, int count) => inner.ObserveHidden(start, hidden, count);
        public void TruncateHidden(int count) => inner.TruncateHidden(count);

        public void DraftLogits(int depth, int n, IReadOnlyList<int> tokens, Span<float> logits)
        {
            inner.DraftLogits(depth, n, tokens, logits);
            int v = model.VocabSize;
            var reference = TeacherForcing.Run(model, tokens.Take(n + depth + 1).ToArray()).MtpLogits[depth].AsSpan((n - 1) * v, v);
            double gap = 0;
            for (int i = 0; i < v; i++) gap = Math.Max(gap, Math.Abs(reference[i] - logits[i]));
            MaxGap = Math.Max(MaxGap, gap);
            Checks++;
        }
    }

    public static TheoryData<string> Models()
    {
        var d = new TheoryData<string>();
        foreach (var f in Fixtures.Names) d.Add(Fixtures.Dir(f));
        string shipped = Environment.GetEnvironmentVariable("MIMO_CHECK_MODEL") ?? Path.Combine(Fixtures.RepoRoot, "models", "default");
        if (File.Exists(Path.Combine(shipped, "config.json"))) d.Add(shipped); // a trained model accepts drafts
        return d;
    }

    [Theory]
    [MemberData(nameof(Models))]
    public void IncrementalDraftsEqualTheTeacherForcedDefinitionAtEveryStep(string dir)
    {
        using var model = MimoModel.Load(dir);
        int k = model.MtpLayers.Count;
        CheckedDrafter? drafter = null;
        foreach (int window in new[] { 1, k })
        {
            var gen = new Generator(model, new GenerationOptions { MaxTokens = 48, Speculative = window },
                caches => drafter = new CheckedDrafter(model, new MtpDrafter(model, caches, window)));
            gen.Generate([3, 14, 15, 92, 65, 35]).ToList();
            Assert.True(drafter!.Checks > 10);
            Assert.True(drafter.MaxGap < 1e-3, $"K={window}: incremental draft logits differ from the definition by {drafter.MaxGap}");
        }
    }
}

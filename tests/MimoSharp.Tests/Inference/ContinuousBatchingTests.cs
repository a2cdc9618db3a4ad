using MimoSharp.Inference;
using MimoSharp.Model;
using MimoSharp.Tests.Support;

namespace MimoSharp.Tests.Inference;

public sealed class ContinuousBatchingTests
{
    [Theory]
    [InlineData("tiny_fp8")]
    [InlineData("tiny_fp8_release")]
    [InlineData("tiny_bf16")]
    public void SequencesJoiningAndLeavingABatchGiveTheirSoloOutputs(string fixture)
    {
        using var model = MimoModel.Load(Fixtures.Dir(fixture));
        var requests = new (int[] Prompt, GenerationOptions Options, int JoinAtStep)[]
        {
            ([1, 2, 3, 4, 5], new GenerationOptions { MaxTokens = 20 }, 0),
            ([9, 8, 7], new GenerationOptions { MaxTokens = 12, Sampling = new SamplingOptions { Temperature = 0.8f, TopP = 0.9f, Seed = 7 } }, 0),
            ([4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4], new GenerationOptions { MaxTokens = 15, Speculative = 2 }, 3),
            ([42], new GenerationOptions { MaxTokens = 9, Speculative = 1, Sampling = new SamplingOptions { Temperature = 1f, TopK = 20, Seed = 3 } }, 5),
        };
        var solo = requests.Select(r => new Generator(model, r.Options).Generate(r.Prompt).ToArray()).ToArray();

        var all = RunContinuousBatch(model, requests);
        for (int i = 0; i < requests.Length; i++) Assert.Equal(solo[i], all[i].Generated);
    }

    /// <summary>
    /// Real MTP drafts (the default model's, which are often right) drafted for several sequences in one pass per
    /// depth: each sequence proposes and accepts exactly the drafts it does alone, and emits the same tokens.
    /// </summary>
    [Fact]
    public void BatchedDraftsAreEachSequencesSoloDrafts()
    {
        string dir = Path.Combine(Fixtures.RepoRoot, "models", "default");
        using var model = MimoModel.Load(dir);
        var tokenizer = MimoSharp.Text.Tokenizer.FromFile(Path.Combine(dir, "tokenizer.json"));
        var requests = new (string Prompt, GenerationOptions Options, int JoinAtStep)[]
        {
            ("The history of the city begins in the twelfth century, when", new GenerationOptions { MaxTokens = 24, Speculative = 3 }, 0),
            ("def parse_arguments(argv):\n    parser = argparse.", new GenerationOptions { MaxTokens = 20, Speculative = 2 }, 0),
            ("Once upon a time there was a", new GenerationOptions { MaxTokens = 18, Speculative = 3, AdaptiveSpeculation = true }, 2),
            ("The river", new GenerationOptions { MaxTokens = 16, Speculative = 3, Sampling = new SamplingOptions { Temperature = 0.9f, TopK = 40, Seed = 11 } }, 1),
        };
        var solo = requests.Select(r => new DecodeSequence(model, tokenizer.Encode(r.Prompt), r.Options)).ToArray();
        foreach (var s in solo)
        {
            var alone = new BatchDecoder(model);
            while (!s.IsFinished) alone.Step([s]);
        }

        var all = RunContinuousBatch(model, requests.Select(r => (tokenizer.Encode(r.Prompt), r.Options, r.JoinAtStep)).ToArray());
        for (int i = 0; i < requests.Length; i++)
        {
            Assert.Equal(solo[i].Generated, all[i].Generated);
            if (requests[i].Options.AdaptiveSpeculation) continue;   // its depths follow measured times
            Assert.Equal(solo[i].Stats.DraftsProposed, all[i].Stats.DraftsProposed);
            Assert.Equal(solo[i].Stats.DraftsAccepted, all[i].Stats.DraftsAccepted);
        }
        Assert.True(all.Sum(s => s.Stats.DraftsAccepted.Sum()) >= 10, "the default model's drafts should often be right");
    }

    /// <summary>One decoder steps the running sequences; each request joins at its step and leaves when finished.</summary>
    private static DecodeSequence[] RunContinuousBatch(MimoModel model, (int[] Prompt, GenerationOptions Options, int JoinAtStep)[] requests)
    {
        var decoder = new BatchDecoder(model);
        var running = new List<DecodeSequence>();
        var all = new DecodeSequence?[requests.Length];
        for (int step = 0; step < 200 && (running.Count > 0 || all.Any(s => s is null)); step++)
        {
            for (int i = 0; i < requests.Length; i++)
                if (all[i] is null && requests[i].JoinAtStep <= step)
                    running.Add(all[i] = new DecodeSequence(model, requests[i].Prompt, requests[i].Options));
            decoder.Step(running);
            running.RemoveAll(s => s.IsFinished);
        }
        Assert.All(all, s => Assert.True(s is { IsFinished: true }, "every request should have joined and finished within 200 steps"));
        return all!;
    }
}

using MimoSharp.Inference;
using MimoSharp.Model;
using MimoSharp.Tensors;
using MimoSharp.Tests.Support;

namespace MimoSharp.Tests.Inference;

public sealed class GenerationTests
{
    public static TheoryData<string> All() => new(Fixtures.Names);

    [Theory]
    [MemberData(nameof(All))]
    public void GreedyContinuationMatchesTheFixtureForEveryDraftDepth(string fixture)
    {
        var greedy = Fixtures.Expected(fixture).GetProperty("greedy");
        int[] prompt = Fixtures.Ints(greedy.GetProperty("prompt_ids"));
        int[] expected = Fixtures.Ints(greedy.GetProperty("generated_ids"));
        using var model = MimoModel.Load(Fixtures.Dir(fixture));
        for (int k = 0; k <= model.MtpLayers.Count; k++)
        {
            var gen = new Generator(model, new GenerationOptions { MaxTokens = expected.Length, Speculative = k });
            var ids = gen.Generate(prompt).ToArray();
            Assert.Equal(expected, ids);
            Assert.Equal(expected.Length, gen.Stats.GeneratedTokens);
        }
    }

    [Theory]
    [MemberData(nameof(All))]
    public void GreedyStepLogitsMatchTheFixture(string fixture)
    {
        var expected = Fixtures.Expected(fixture);
        var greedy = expected.GetProperty("greedy");
        double tol = expected.GetProperty("tolerances").GetProperty("logits_max_abs").GetDouble();
        int[] sequence = [.. Fixtures.Ints(greedy.GetProperty("prompt_ids")), .. Fixtures.Ints(greedy.GetProperty("generated_ids"))];
        using var tensors = Fixtures.ExpectedTensors(fixture);
        using var model = MimoModel.Load(Fixtures.Dir(fixture));
        var outs = TeacherForcing.Run(model, sequence[..^1], chunk: 1);
        int v = model.VocabSize, p = Fixtures.Ints(greedy.GetProperty("prompt_ids")).Length;
        var stepLogits = outs.Logits.AsSpan((p - 1) * v, (sequence.Length - p) * v);
        Assert.InRange(Fixtures.MaxAbsDiff(stepLogits, tensors.Tensors["greedy.logits"].ToFloat64()), 0, tol);
    }

    [Theory]
    [MemberData(nameof(All))]
    public void DraftChainMatchesTheFixture(string fixture)
    {
        var expected = Fixtures.Expected(fixture);
        var drafts = expected.GetProperty("mtp_drafts");
        double tol = expected.GetProperty("tolerances").GetProperty("mtp_logits_max_abs").GetDouble();
        int[] prompt = Fixtures.Ints(drafts.GetProperty("prompt_ids"));
        int[] draftTokens = Fixtures.Ints(drafts.GetProperty("draft_tokens"));
        using var tensors = Fixtures.ExpectedTensors(fixture);
        using var model = MimoModel.Load(Fixtures.Dir(fixture));
        int v = model.VocabSize, h = model.HiddenSize, n = prompt.Length;

        var caches = model.CreateCaches(lookahead: model.MtpLayers.Count);
        var hidden = new float[n * h];
        model.Forward(prompt, BatchLayout.Single(0, n), [caches], hidden);
        var logits = new float[v];
        model.Logits(hidden.AsSpan((n - 1) * h, h), 1, logits);
        var u = new List<int>(prompt) { VectorMath.ArgMax(logits) };
        Assert.Equal(drafts.GetProperty("main_next_token").GetInt32(), u[^1]);

        var drafter = new MtpDrafter(model, caches, model.MtpLayers.Count);
        drafter.ObserveHidden(0, hidden, n);
        for (int k = 0; k < model.MtpLayers.Count; k++)
        {
            drafter.DraftLogits(k, n, u, logits);
            Assert.InRange(Fixtures.MaxAbsDiff(logits, tensors.Tensors[$"drafts.{k}.logits"].ToFloat64()), 0, tol);
            u.Add(VectorMath.ArgMax(logits));
            Assert.Equal(draftTokens[k], u[^1]);
        }
    }

    [Theory]
    [MemberData(nameof(All))]
    public void LongGreedySpeculativeRunEqualsPlainDecoding(string fixture)
    {
        // 80 tokens cross the fixtures' windows (6-8) many times and exercise ring-buffer rollback.
        using var model = MimoModel.Load(Fixtures.Dir(fixture));
        int[] prompt = [5, 17, 3];
        var plain = new Generator(model, new GenerationOptions { MaxTokens = 80 }).Generate(prompt).ToArray();
        for (int k = 1; k <= model.MtpLayers.Count; k++)
        {
            var gen = new Generator(model, new GenerationOptions { MaxTokens = 80, Speculative = k });
            Assert.Equal(plain, gen.Generate(prompt).ToArray());
            Assert.True(gen.Stats.DecodeSteps <= 79);
        }
    }

    [Theory]
    [MemberData(nameof(All))]
    public void ChunkedPrefillGivesTheSameTokens(string fixture)
    {
        var greedy = Fixtures.Expected(fixture).GetProperty("greedy");
        int[] prompt = Fixtures.Ints(greedy.GetProperty("prompt_ids"));
        int[] expected = Fixtures.Ints(greedy.GetProperty("generated_ids"));
        using var model = MimoModel.Load(Fixtures.Dir(fixture));
        foreach (int chunk in new[] { 1, 5, 23 })
        {
            var options = new GenerationOptions { MaxTokens = expected.Length, PrefillChunk = chunk, Speculative = model.MtpLayers.Count };
            Assert.Equal(expected, new Generator(model, options).Generate(prompt).ToArray());
        }
    }

    [Fact]
    public void SamplingIsReproducibleWithASeed()
    {
        using var model = MimoModel.Load(Fixtures.Dir("tiny_f32"));
        var options = new GenerationOptions
        {
            MaxTokens = 24,
            Sampling = new SamplingOptions { Temperature = 0.9f, TopK = 50, TopP = 0.95f, MinP = 0.01f, RepetitionPenalty = 1.1f, Seed = 42 },
        };
        var a = new Generator(model, options).Generate([1, 2, 3]).ToArray();
        var b = new Generator(model, options).Generate([1, 2, 3]).ToArray();
        var c = new Generator(model, options with { Sampling = options.Sampling with { Seed = 43 } }).Generate([1, 2, 3]).ToArray();
        Assert.Equal(a, b);
        Assert.NotEqual(a, c);
    }

    [Fact]
    public void StopTokenEndsGenerationAfterItIsEmitted()
    {
        using var model = MimoModel.Load(Fixtures.Dir("tiny_fp8"));
        var greedy = Fixtures.Expected("tiny_fp8").GetProperty("greedy");
        int[] prompt = Fixtures.Ints(greedy.GetProperty("prompt_ids"));
        int[] expected = Fixtures.Ints(greedy.GetProperty("generated_ids"));
        for (int k = 0; k <= model.MtpLayers.Count; k++)
        {
            var ids = new Generator(model, new GenerationOptions { MaxTokens = 16, StopTokens = [expected[5]], Speculative = k })
                .Generate(prompt).ToArray();
            Assert.Equal(expected[..(Array.IndexOf(expected, expected[5]) + 1)], ids);
        }
    }

    [Fact]
    public void BadPromptsAreRejectedWithClearErrors()
    {
        using var model = MimoModel.Load(Fixtures.Dir("tiny_f32"));
        var gen = new Generator(model, new GenerationOptions());
        Assert.Contains("empty", Assert.Throws<ArgumentException>(() => gen.Generate([])).Message);
        Assert.Contains("outside the vocabulary", Assert.ThrowsAny<ArgumentException>(() => gen.Generate([1, model.VocabSize])).Message);
        var tooLong = Enumerable.Repeat(1, model.Config.MaxPositionEmbeddings + 1).ToArray();
        Assert.Contains("max_position_embeddings", Assert.ThrowsAny<ArgumentException>(() => gen.Generate(tooLong)).Message);
        Assert.Contains("MTP layers", Assert.ThrowsAny<ArgumentException>(
            () => new Generator(model, new GenerationOptions { Speculative = model.MtpLayers.Count + 1 })).Message);
    }
}

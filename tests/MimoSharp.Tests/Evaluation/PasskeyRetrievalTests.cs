using MimoSharp.Evaluation;
using MimoSharp.Model;
using MimoSharp.Tests.Support;
using MimoSharp.Text;

namespace MimoSharp.Tests.Evaluation;

/// <summary>Passkey prompts (exact length, needle at the depth), scoring, keys, and a short run on the default model.</summary>
public sealed class PasskeyRetrievalTests
{
    private static string DefaultModelDir => Path.Combine(Fixtures.RepoRoot, "models", "default");
    private static readonly Lazy<Tokenizer> s_tokenizer = new(() => Tokenizer.FromFile(Path.Combine(DefaultModelDir, "tokenizer.json")));

    [Theory]
    [InlineData(120)]
    [InlineData(1000)]
    [InlineData(4096)]
    public void PromptHasTheExactLengthAndTheNeedleAtTheDepth(int length)
    {
        var tok = s_tokenizer.Value;
        var haystack = new PasskeyHaystack(tok);
        int[] instruction = tok.Encode(PasskeyHaystack.Instruction, parseSpecial: false);
        int[] question = tok.Encode(PasskeyHaystack.Question, parseSpecial: false);
        int longestSentence = PasskeyHaystack.DefaultFiller.Split(". ").Max(s => tok.Encode(" " + s + ".", parseSpecial: false).Length);
        foreach (double depth in new[] { 0, 0.25, 0.5, 0.75, 1 })
        {
            var prompt = haystack.Build(length, depth, "40917");
            Assert.Equal(length, prompt.Tokens.Length);
            Assert.Equal(instruction, prompt.Tokens[..instruction.Length]);
            Assert.Equal(question, prompt.Tokens[^question.Length..]);
            int[] needle = tok.Encode(PasskeyHaystack.NeedleText("40917"), parseSpecial: false);
            Assert.Equal(needle.Length, prompt.NeedleLength);
            Assert.Equal(needle, prompt.Tokens[prompt.NeedleStart..(prompt.NeedleStart + needle.Length)]);

            // The needle sits at the sentence boundary nearest to depth × filler: within one sentence of it.
            int filler = length - instruction.Length - needle.Length - question.Length;
            double offset = prompt.NeedleStart - instruction.Length - depth * filler;
            Assert.True(Math.Abs(offset) <= longestSentence, $"depth {depth}: needle {offset:F1} tokens from its place");
            if (depth == 0) Assert.Equal(instruction.Length, prompt.NeedleStart);
            if (depth == 1) Assert.Equal(length - question.Length, prompt.NeedleStart + needle.Length);

            // The key appears in the needle only; the text reads as one piece and encodes back to the same tokens.
            string text = tok.Decode(prompt.Tokens);
            Assert.Equal(2, text.Split("40917").Length - 1);
            Assert.Contains(" The grass is green. The sky is blue.", text);
            Assert.EndsWith("What is the pass key? The pass key is", text);
            Assert.Equal(prompt.Tokens, tok.Encode(text, parseSpecial: false));
        }
    }

    [Fact]
    public void FillerFromTextIsCutIntoSentencesAndCycled()
    {
        var tok = s_tokenizer.Value;
        var haystack = new PasskeyHaystack(tok, "Alpha beta gamma.\n\nDelta  epsilon!   Zeta eta?");
        var prompt = haystack.Build(300, 0.5, "123");
        string text = tok.Decode(prompt.Tokens);
        Assert.Contains(" Alpha beta gamma. Delta epsilon! Zeta eta? Alpha beta gamma.", text);
        Assert.Equal(300, prompt.Tokens.Length);
        Assert.Throws<ArgumentException>(() => new PasskeyHaystack(tok, " \n "));
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => haystack.Build(20, 0.5, "123"));
        Assert.Contains("at least", e.Message);
    }

    [Theory]
    [InlineData(" 40917.", true)]
    [InlineData("40917", true)]
    [InlineData(" is 40917 and", true)]
    [InlineData(" 4091", false)]
    [InlineData(" 409178", false)]
    [InlineData(" 12345 40917", false)]
    [InlineData(" no number", false)]
    [InlineData("", false)]
    public void ScoreComparesTheFirstNumberOfTheAnswer(string answer, bool retrieved) =>
        Assert.Equal(retrieved, PasskeyRetrieval.Score(answer, "40917"));

    [Fact]
    public void KeysAreSeededPerTrialWithTheRequestedDigits()
    {
        var keys = new HashSet<string>();
        for (int trial = 0; trial < 50; trial++)
        {
            string key = PasskeyRetrieval.Passkey(7, 1024, 0.5, trial, 5);
            Assert.Equal(key, PasskeyRetrieval.Passkey(7, 1024, 0.5, trial, 5));
            Assert.Equal(5, key.Length);
            Assert.NotEqual('0', key[0]);
            keys.Add(key);
        }
        Assert.True(keys.Count >= 48, $"only {keys.Count} distinct keys in 50 trials");
        Assert.NotEqual(PasskeyRetrieval.Passkey(7, 1024, 0.5, 0, 5), PasskeyRetrieval.Passkey(8, 1024, 0.5, 0, 5));
        Assert.NotEqual(PasskeyRetrieval.Passkey(7, 1024, 0.5, 0, 5), PasskeyRetrieval.Passkey(7, 1024, 0.25, 0, 5));
        Assert.Equal(1, PasskeyRetrieval.Passkey(7, 1024, 0.5, 0, 1).Length);
    }

    [Fact]
    public void DefaultLengthsDoubleWhileThePromptAndAnswerFit()
    {
        Assert.Equal([1024, 2048], PasskeyOptions.DoublingLengths(4096, 5));        // 4,096 + 9 answer tokens does not fit
        Assert.Equal([1024, 2048, 4096], PasskeyOptions.DoublingLengths(4105, 5));
        Assert.Equal([1024, 2048, 4096, 8192, 16384, 32768, 65536, 131072], PasskeyOptions.DoublingLengths(262144, 5));
        Assert.Equal([503], PasskeyOptions.DoublingLengths(512, 5));
    }

    [Fact]
    public void RunsOnTheDefaultModelWithChunkedPrefillAndReportsEveryCell()
    {
        using var model = MimoModel.Load(DefaultModelDir);
        var options = new PasskeyOptions { Lengths = [150, 300], Depths = [0, 0.5, 1], Trials = 2, Seed = 3, PrefillChunk = 64 };
        var progress = new List<PasskeyTrial>();
        var report = new PasskeyRetrieval(model, s_tokenizer.Value, options).Run(new Collect(progress));

        Assert.Equal(12, report.Trials.Count);
        Assert.Equal(report.Trials, progress);
        Assert.Equal(6, report.Cells.Count);
        Assert.All(report.Cells, c => Assert.Equal(2, c.Trials));
        Assert.Equal([150, 150, 150, 300, 300, 300], report.Cells.Select(c => c.Length));
        Assert.Equal([0, 0.5, 1, 0, 0.5, 1], report.Cells.Select(c => c.Depth));
        Assert.All(report.Trials, t =>
        {
            Assert.Equal(PasskeyRetrieval.Passkey(3, t.Length, t.Depth, t.Trial, 5), t.Passkey);
            Assert.Equal(PasskeyRetrieval.Score(t.Answer, t.Passkey), t.Correct);
            Assert.True(t.Seconds > 0);
        });
        Assert.Equal(report.Trials.Count(t => t.Correct), report.Cells.Sum(c => c.Correct));
        Assert.InRange(report.Accuracy, 0, 1);

        // Prefill in one pass answers the same (a row's bits do not depend on the chunking).
        var whole = new PasskeyRetrieval(model, s_tokenizer.Value, options with { PrefillChunk = 4096 }).Run();
        Assert.Equal(report.Trials.Select(t => t.Answer), whole.Trials.Select(t => t.Answer));
    }

    [Fact]
    public void LengthsBeyondTheModelOrBelowThePromptAreRefusedBeforeAnyWork()
    {
        using var model = MimoModel.Load(DefaultModelDir);
        int limit = model.Config.MaxPositionEmbeddings;   // a prompt of exactly the limit leaves no room for the answer
        var tooLong = new PasskeyRetrieval(model, s_tokenizer.Value, new PasskeyOptions { Lengths = [1024, limit], Depths = [0.5] });
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => tooLong.Validate());
        Assert.Contains($"max_position_embeddings ({limit})", e.Message);
        var tooShort = new PasskeyRetrieval(model, s_tokenizer.Value, new PasskeyOptions { Lengths = [10], Depths = [0.5] });
        Assert.Contains("too short", Assert.Throws<ArgumentOutOfRangeException>(() => tooShort.Run()).Message);
        var badDepth = new PasskeyRetrieval(model, s_tokenizer.Value, new PasskeyOptions { Lengths = [200], Depths = [1.5] });
        Assert.Contains("1.5", Assert.Throws<ArgumentOutOfRangeException>(() => badDepth.Validate()).Message);
    }

    private sealed class Collect(List<PasskeyTrial> into) : IProgress<PasskeyTrial>
    {
        public void Report(PasskeyTrial value) => into.Add(value);
    }
}

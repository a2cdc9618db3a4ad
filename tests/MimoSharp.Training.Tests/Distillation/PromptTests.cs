using MimoSharp.Tests.Support;
using MimoSharp.Text;
using MimoSharp.Training.Distillation;

namespace MimoSharp.Training.Tests.Distillation;

/// <summary>Prompt files: answers, stops, and the stop tokens a response ends at.</summary>
public class PromptTests
{
    [Fact]
    public void ResponseIsCutAtTheFirstStopAndCheckedTrimmed()
    {
        var p = new DistillPrompt { Prompt = "47+38=", Answer = "85", Stop = ["\n", ";"] };
        Assert.Equal("85", p.CutAtStop("85\n12+3=15"));
        Assert.Equal(" 8", p.CutAtStop(" 8;5\n"));
        Assert.True(p.IsCorrect("85\n"));
        Assert.True(p.IsCorrect(" 85 \n99"));
        Assert.False(p.IsCorrect("855\n"));
        Assert.False(p.IsCorrect("8\n5"));
        Assert.False(new DistillPrompt { Prompt = "x" }.IsCorrect("anything"));   // no answer: never checkable
    }

    [Fact]
    public void StopTokensAreEveryTokenContainingTheStopString()
    {
        string path = Path.Combine(Path.GetTempPath(), $"prompts-{Guid.NewGuid():N}.jsonl");
        try
        {
            DistillPrompt.Save(path, [new DistillPrompt { Prompt = "cat (noun):", Stop = ["\n"], MaxTokens = 9 }]);
            var tokenizer = Tokenizer.FromFile(Fixtures.QwenTokenizerPath);
            var encoded = new PromptEncoder(tokenizer, 4096).Encode(path, defaultMaxTokens: 32).Single();
            Assert.Equal(9, encoded.MaxTokens);
            Assert.Equal(tokenizer.Encode("cat (noun):", parseSpecial: false), encoded.Ids);
            Assert.Contains(tokenizer.Encode("\n")[0], encoded.StopTokens);
            Assert.Contains(tokenizer.Encode(".\n")[^1], encoded.StopTokens);       // BPE merges punctuation with the newline
            Assert.All(encoded.StopTokens, id => Assert.Contains((byte)'\n', tokenizer.TokenBytes(id).ToArray()));
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void PromptLongerThanTheContextIsNamed()
    {
        string path = Path.Combine(Path.GetTempPath(), $"prompts-{Guid.NewGuid():N}.jsonl");
        try
        {
            DistillPrompt.Save(path, [new DistillPrompt { Prompt = string.Concat(Enumerable.Repeat("word ", 100)) }]);
            var tokenizer = Tokenizer.FromFile(Fixtures.QwenTokenizerPath);
            var e = Assert.Throws<InvalidDataException>(() => new PromptEncoder(tokenizer, 64).Encode(path, defaultMaxTokens: 8));
            Assert.Contains("max_position_embeddings (64)", e.Message);
            Assert.Contains(path, e.Message);
        }
        finally
        {
            File.Delete(path);
        }
    }
}

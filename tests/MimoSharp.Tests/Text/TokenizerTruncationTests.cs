using System.Text;
using MimoSharp.Text;

namespace MimoSharp.Tests.Text;

public sealed class TokenizerTruncationTests
{
    private static QwenTokenizerFixture Qwen => QwenTokenizerFixture.Instance;

    [Fact]
    public void ATruncatedTokenizerKeepsPrefixIdsRenumbersAddedTokensAndStaysLossless()
    {
        const int n = 4096;
        string json = TokenizerTruncation.Truncate(File.ReadAllBytes(Qwen.Path), n, Qwen.Path);
        Tokenizer small = Tokenizer.FromJson(Encoding.UTF8.GetBytes(json), "truncated");

        Assert.Equal(n + 26, small.VocabSize);
        Assert.Equal(n, small.GetId("<|endoftext|>"));
        Assert.Equal(n + 1, small.GetId("<|im_start|>"));
        for (int id = 0; id < n; id += 97) Assert.Equal(Qwen.Tokenizer.IdToToken(id), small.IdToToken(id));

        // The reference agrees on what the small file means.
        string path = Path.Combine(Path.GetTempPath(), $"mimosharp-small-{Environment.ProcessId}.json");
        File.WriteAllText(path, json);
        try
        {
            var reference = new Tokenizers.DotNet.Tokenizer(vocabPath: path);
            foreach (string text in TokenizerReferenceTests.SampleTexts)
            {
                int[] ids = small.Encode(text);
                Assert.All(ids, id => Assert.InRange(id, 0, n + 25));
                Assert.Equal(reference.Encode(text).Select(i => (int)i).ToArray(), ids);
                Assert.Equal(text.Normalize(NormalizationForm.FormC), small.Decode(ids));
            }
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void AVocabOutOfRangeIsRefused()
    {
        byte[] bytes = File.ReadAllBytes(Qwen.Path);
        Assert.Throws<ArgumentOutOfRangeException>(() => TokenizerTruncation.Truncate(bytes, 255, "x"));
        Assert.Throws<ArgumentOutOfRangeException>(() => TokenizerTruncation.Truncate(bytes, 151644, "x"));
    }
}

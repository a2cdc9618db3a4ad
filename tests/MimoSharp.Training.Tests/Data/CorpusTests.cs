using MimoSharp.Text;
using MimoSharp.Training.Data;
using MimoSharp.Training.Tests.Support;

namespace MimoSharp.Training.Tests.Data;

public class CorpusTests
{
    [Fact]
    public void PackedShardsDecodeBackToTheSourceWithAHeldOutTail()
    {
        using var run = new TinyRun();
        var meta = CorpusMeta.Load(run.Corpus);
        var tokenizer = Tokenizer.FromFile(run.Tokenizer);
        Assert.Equal(tokenizer.VocabSize, meta.VocabSize);
        Assert.Equal(2, meta.Sources.Count);
        Assert.All(meta.Sources, s => Assert.True(s.HeldoutTokens > 0 && s.TrainTokens > 5 * s.HeldoutTokens));

        var train = meta.Train.SelectMany(s => ShardReader.Read(run.Corpus, s, meta.VocabSize)).ToArray();
        var held = meta.Heldout.SelectMany(s => ShardReader.Read(run.Corpus, s, meta.VocabSize)).ToArray();
        string all = tokenizer.Decode(train) + tokenizer.Decode(held);
        Assert.Contains("number 17 comes after 16.", all);
        Assert.Contains("number 400 comes after 399.", tokenizer.Decode(held));
        Assert.True(train.Count(t => t == meta.EosTokenId) >= 2, "documents end with <|endoftext|>");
        Assert.True(meta.Train.Count > 1, "the corpus is split into several shards");
        string heldText = File.ReadAllText(Path.Combine(run.Corpus, CorpusPacker.HeldoutTextFileName));
        Assert.Contains("number 400 comes after 399.", heldText);
        Assert.DoesNotContain("number 17 comes after 16.", heldText);
        // …and each source's share on its own, in source order, for a per-source evaluation.
        string perSource = Path.Combine(run.Corpus, CorpusPacker.HeldoutSourcesFolderName);
        Assert.Equal(["counting.txt", "rhymes.txt"], Directory.GetFiles(perSource).Select(Path.GetFileName).Order(StringComparer.Ordinal));
        Assert.Equal(heldText, File.ReadAllText(Path.Combine(perSource, "counting.txt")) + File.ReadAllText(Path.Combine(perSource, "rhymes.txt")));
        Assert.Contains("number 400 comes after 399.", File.ReadAllText(Path.Combine(perSource, "counting.txt")));
    }

    [Fact]
    public void ChatTurnMarkersBecomeSingleIdsOnlyWhenSpecialTokensAreAskedFor()
    {
        using var run = new TinyRun();
        var tokenizer = Tokenizer.FromFile(run.Tokenizer);
        Assert.True(tokenizer.TryGetId("<|im_start|>", out int start));
        Assert.True(tokenizer.TryGetId("<|im_end|>", out int end));
        string dialogue = "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\nHello!<|im_end|>\n";
        string text = Path.Combine(run.Root, "chat");
        Directory.CreateDirectory(text);
        File.WriteAllText(Path.Combine(text, "chat.txt"), string.Concat(Enumerable.Repeat(dialogue + "\n\f\n", 40)));

        int[] Packed(bool special)
        {
            string output = Path.Combine(run.Root, special ? "packed-special" : "packed-plain");
            var meta = CorpusPacker.Pack(text, run.Tokenizer, output, heldoutFraction: 0.1, parseSpecialTokens: special);
            return meta.Train.SelectMany(s => ShardReader.Read(output, s, meta.VocabSize)).ToArray();
        }
        int[] special = Packed(true), plain = Packed(false);

        // With the flag, every dialogue holds each marker as one id, exactly as the engine's prompt encoding does.
        // (Documents are trimmed of line breaks at their ends and closed by <|endoftext|>.)
        var expected = new List<int>();
        tokenizer.Encode(dialogue.TrimEnd('\n'), expected, parseSpecial: true);
        Assert.True(tokenizer.TryGetId(CorpusPacker.EndOfText, out int eos));
        expected.Add(eos);
        Assert.Equal(expected, special.Take(expected.Count));
        Assert.Equal(special.Count(t => t == start), special.Count(t => t == end));
        Assert.True(special.Count(t => t == start) >= 60);
        // Without it the same text is ordinary characters: pre-training text never teaches control tokens.
        Assert.DoesNotContain(start, plain);
        Assert.DoesNotContain(end, plain);
        Assert.Equal(tokenizer.Decode(special), tokenizer.Decode(plain));
    }

    [Fact]
    public void BatchesAreAPureFunctionOfSeedAndPosition()
    {
        var tokens = Enumerable.Range(0, 1000).ToArray();
        var a = new TokenDataset(tokens, 10, 42, "test");
        var b = new TokenDataset(tokens, 10, 42, "test");
        var x = new long[30];
        var y = new long[30];
        a.Batch(250, 3, x);
        b.Batch(0, 3, y);   // move b's shuffle to another epoch first
        b.Batch(250, 3, y);
        Assert.Equal(x, y);
        var firstEpoch = new HashSet<long>();
        var window = new long[10];
        for (int p = 0; p < 100; p++)
        {
            a.Batch(p, 1, window);
            firstEpoch.Add(window[0]);
        }
        Assert.Equal(100, firstEpoch.Count);   // every window exactly once per epoch
    }
}

using System.Text;
using MimoSharp.Text;

namespace MimoSharp.Tests.Text;

public sealed class TokenizerBehaviourTests
{
    private static QwenTokenizerFixture Qwen => QwenTokenizerFixture.Instance;

    [Fact]
    public void PlainModeMatchesTheReferenceWithoutAddedTokens()
    {
        // The reference has no "added tokens are text" switch for non-special tokens, so the oracle is the
        // same tokenizer.json with its added_tokens removed.
        string json = File.ReadAllText(Qwen.Path);
        var node = System.Text.Json.Nodes.JsonNode.Parse(json)!;
        node["added_tokens"] = new System.Text.Json.Nodes.JsonArray();
        string path = Path.Combine(Path.GetTempPath(), $"mimosharp-noadded-{Environment.ProcessId}.json");
        File.WriteAllText(path, node.ToJsonString());
        try
        {
            var reference = new Tokenizers.DotNet.Tokenizer(vocabPath: path);
            foreach (string text in new[] { "<|im_start|>user\nhi<|im_end|>", "<think>x</think> <tool_call>", "plain text", "" })
            {
                int[] expected = reference.Encode(text).Select(i => (int)i).ToArray();
                Assert.Equal(expected, Qwen.Tokenizer.Encode(text, parseSpecial: false));
            }
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void AddedTokensSpecialAndNonSpecialAreParsed()
    {
        int imStart = Qwen.Tokenizer.GetId("<|im_start|>");
        int think = Qwen.Tokenizer.GetId("<think>");
        int toolCall = Qwen.Tokenizer.GetId("<tool_call>");
        Assert.True(Qwen.Tokenizer.IsSpecial(imStart));
        Assert.False(Qwen.Tokenizer.IsSpecial(think));
        int[] ids = Qwen.Tokenizer.Encode("<|im_start|><think><tool_call>");
        Assert.Equal([imStart, think, toolCall], ids);
        Assert.Equal("<think><tool_call>", Qwen.Tokenizer.Decode(ids, skipSpecial: true));
        Assert.Equal(151669, Qwen.Tokenizer.VocabSize);
    }

    [Fact]
    public void RandomRunsOfCombiningMarksAreNormalisedAsTheReferenceDoes()
    {
        // Canonical reordering, composition, exclusions, Hangul jamo and astral characters: the ids equal the
        // reference's, and decoding gives the NFC text.
        var random = new Random(3);
        string[] atoms = ["a", "e", "\u0301", "\u0308", "\u0323", "\u0302", "\u1100", "\u1161", "\u11A8", "\uAC00", "Å", "\u212B",
            "\u0958", "\u093C", "\u0915", "\u0F73", "\u05B8", "\u05B7", "\u0591", "𝅗𝅥", "\U0001D15E", "\u0344", "\u1E9B", "ﬁ", "\u0340"];
        for (int n = 0; n < 500; n++)
        {
            var sb = new StringBuilder();
            for (int i = random.Next(1, 10); i > 0; i--) sb.Append(atoms[random.Next(atoms.Length)]);
            string s = sb.ToString();
            int[] ids = Qwen.Tokenizer.Encode(s);
            Assert.Equal(Qwen.ReferenceEncode(s), ids);
            Assert.Equal(s.Normalize(NormalizationForm.FormC), Qwen.Tokenizer.Decode(ids));
        }
    }

    [Fact]
    public void PrecomposedAndDecomposedTextEncodeAlike()
    {
        Assert.Equal(Qwen.Tokenizer.Encode("caf\u00e9"), Qwen.Tokenizer.Encode("cafe\u0301"));
        Assert.Equal("caf\u00e9", Qwen.Tokenizer.Decode(Qwen.Tokenizer.Encode("cafe\u0301")));
    }

    [Fact]
    public void LoneSurrogatesEncodeAsTheReplacementCharacter()
    {
        Assert.Equal(Qwen.Tokenizer.Encode("a\uFFFDb"), Qwen.Tokenizer.Encode("a\uD800b"));
    }

    [Fact]
    public void TheStreamingDecoderNeverEmitsHalfACharacter()
    {
        string text = "naïve 中文 👨‍👩‍👧‍👦 🇯🇵 e\u0301 <think>done</think> 𠀀";
        int[] ids = Qwen.Tokenizer.Encode(text);
        StreamingDecoder decoder = Qwen.Tokenizer.CreateStreamingDecoder();
        var sb = new StringBuilder();
        foreach (int id in ids)
        {
            string piece = decoder.Push(id);
            Assert.DoesNotContain('\uFFFD', piece);
            if (piece.Length > 0) Assert.False(char.IsHighSurrogate(piece[^1]), "a piece ended inside a surrogate pair");
            sb.Append(piece);
        }
        sb.Append(decoder.Flush());
        Assert.Equal(Qwen.Tokenizer.Decode(ids), sb.ToString());
        Assert.Equal(text.Normalize(NormalizationForm.FormC), sb.ToString());
    }

    [Fact]
    public void TheStreamingDecoderHoldsSplitBytesUntilTheCharacterCompletes()
    {
        // Single-byte tokens: each of the 4 bytes of 😀 is its own id.
        byte[] utf8 = Encoding.UTF8.GetBytes("😀");
        int[] byteIds = utf8.Select(b => Qwen.Tokenizer.GetId(ByteLevelAlphabet.ToChar(b).ToString())).ToArray();
        StreamingDecoder decoder = Qwen.Tokenizer.CreateStreamingDecoder();
        Assert.Equal("", decoder.Push(byteIds[0]));
        Assert.Equal("", decoder.Push(byteIds[1]));
        Assert.Equal("", decoder.Push(byteIds[2]));
        Assert.Equal("😀", decoder.Push(byteIds[3]));
        // An incomplete tail at the end of the stream comes out as U+FFFD, as Decode would give.
        Assert.Equal("", decoder.Push(byteIds[0]));
        Assert.Equal("\uFFFD", decoder.Flush());
        Assert.Equal("\uFFFD", Qwen.Tokenizer.Decode([byteIds[0]]));
    }

    [Fact]
    public void AnUnsupportedFileIsRefusedNamingTheField()
    {
        string json = File.ReadAllText(Qwen.Path).Replace("\"type\": \"NFC\"", "\"type\": \"NFKC\"", StringComparison.Ordinal);
        var e = Assert.Throws<InvalidDataException>(() => Tokenizer.FromJson(Encoding.UTF8.GetBytes(json), "edited.json"));
        Assert.Contains("edited.json", e.Message);
        Assert.Contains("normalizer.type", e.Message);
    }

    [Fact]
    public void AMissingFileIsRefusedNamingThePath()
    {
        var e = Assert.Throws<FileNotFoundException>(() => Tokenizer.FromFile("/nonexistent/tokenizer.json"));
        Assert.Contains("/nonexistent/tokenizer.json", e.Message);
    }
}

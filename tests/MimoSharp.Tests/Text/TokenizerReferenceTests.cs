using System.Text;
using MimoSharp.Text;

namespace MimoSharp.Tests.Text;

/// <summary>Ids must equal the Hugging Face reference on the real Qwen3 tokenizer.json.</summary>
public sealed class TokenizerReferenceTests
{
    private static QwenTokenizerFixture Qwen => QwenTokenizerFixture.Instance;

    internal static readonly string[] SampleTexts =
    [
        "",
        "Hello world",
        "The quick brown fox jumps over the lazy dog.",
        "  leading spaces and trailing   ",
        "tabs\tand\t\ttabs\t",
        "line one\nline two\n\n\nline three\n",
        "windows\r\nline\r\nendings\r\n\r\n",
        "mixed \t \n \r\n  \n\t end",
        "I'm sure it's what they're, we've, I'll, he'd do",
        "I'M SURE IT'S WHAT THEY'RE, WE'VE, I'LL, HE'D DO",
        "'s 'S 'ſ 'Ll 'rE",
        "def fib(n):\n    if n < 2:\n        return n\n    return fib(n - 1) + fib(n - 2)\n",
        "for (int i = 0; i < 10; i++) { Console.WriteLine($\"{i}\"); }",
        "x=1+2*3/4-5%6; y==z&&a||!b; // comment\n/* block */",
        "中文文本测试，这是一个句子。日本語のテキストもあります。한국어 문장입니다.",
        "混合English和中文123数字",
        "Emoji: 👍🏽 👨‍👩‍👧‍👦 🏳️‍🌈 ❤️ 🇯🇵",
        "Combining: e\u0301 a\u0308 n\u0303 \u1100\u1161\u11A8 Å Å",
        "Arabic: مرحبا بالعالم, Hebrew: שלום, Hindi: नमस्ते दुनिया, Thai: สวัสดีชาวโลก",
        "Numbers 1234567890 ١٢٣ ½ Ⅻ ²³ 3.14159 1e-10 0x1F",
        "Special <|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n",
        "<think>\nreasoning\n</think>\n\nanswer <tool_call>\n<function=f>\n</function>\n</tool_call>",
        "<|endoftext|><|endoftext|>text<|im_end|",
        "almost <|im_star|> special <think",
        "\u00a0nbsp\u2003em\u3000ideographic\u2028sep\u0085nel",
        "math 𝐀𝐁𝐂 𝟏𝟐 ancient 𐍈 cjk-ext 𠀀𠀁",
        "zero\u200bwidth\u200djoiner\ufeffbom",
        "    \n",
        "\n",
        " ",
        "a",
        "!!!???...,,,;;;",
        "https://example.com/path?q=1&r=2#frag",
        "ÀÉÎÕÜ àéîõü ß ẞ ŉ ǅ ǈ",
    ];

    public static TheoryData<string> Samples => new(SampleTexts);

    [Theory]
    [MemberData(nameof(Samples))]
    public void EncodingMatchesTheReference(string text)
    {
        Assert.Equal(Qwen.ReferenceEncode(text), Qwen.Tokenizer.Encode(text));
    }

    [Theory]
    [MemberData(nameof(Samples))]
    public void DecodingTheEncodingGivesTheNfcText(string text)
    {
        int[] ids = Qwen.Tokenizer.Encode(text);
        Assert.Equal(UnicodeNormalizerReference(text), Qwen.Tokenizer.Decode(ids));
    }

    [Fact]
    public void TheEmptyStringEncodesToNoIds()
    {
        Assert.Empty(Qwen.Tokenizer.Encode(""));
        Assert.Equal("", Qwen.Tokenizer.Decode([]));
    }

    [Fact]
    public void RandomTextMatchesTheReference()
    {
        // Random strings drawn from alphabets chosen to hit the pre-tokenizer's corners: mixed scripts,
        // whitespace runs, digits, punctuation, apostrophes, combining marks, astral characters, added tokens.
        string[] atoms =
        [
            "a", "Z", "é", "e\u0301", "\u0301", "ß", "中", "語", "한", "\u1100", "\u1161", "\u11A8", "ا", "न", "\u094D",
            "0", "7", "٣", "½", "Ⅻ", " ", "  ", "\t", "\n", "\r", "\r\n", "\u00a0", "\u3000", "\u2028",
            "'", "'s", "'LL", "!", ".", ",", "-", "_", "(", "\"", "<", ">", "|", "/", "\\", "{", "}",
            "😀", "👍🏽", "\u200d", "🇯🇵", "𝐀", "𠀀", "\ufe0f", "<think>", "</think>", "<|im_end|>", "<tool_call>",
            "hello", "World", "the", " of", "1234",
        ];
        var random = new Random(20250611);
        for (int sample = 0; sample < 1500; sample++)
        {
            var sb = new StringBuilder();
            int length = random.Next(0, 24);
            for (int i = 0; i < length; i++) sb.Append(atoms[random.Next(atoms.Length)]);
            string text = sb.ToString();
            int[] expected = Qwen.ReferenceEncode(text);
            int[] actual = Qwen.Tokenizer.Encode(text);
            Assert.True(expected.AsSpan().SequenceEqual(actual),
                $"Mismatch for {Escape(text)}: reference [{string.Join(",", expected)}], ours [{string.Join(",", actual)}]");
            Assert.Equal(UnicodeNormalizerReference(text), Qwen.Tokenizer.Decode(actual));
        }
    }

    [Fact]
    public void RandomCodePointsMatchTheReference()
    {
        // Arbitrary scalar values across the planes, so Unicode categories are compared far beyond the samples.
        var random = new Random(7);
        for (int sample = 0; sample < 400; sample++)
        {
            var sb = new StringBuilder();
            int length = random.Next(1, 16);
            for (int i = 0; i < length; i++)
            {
                int cp = random.Next(4) switch
                {
                    0 => random.Next(0x20, 0x80),
                    1 => random.Next(0x80, 0x3000),
                    2 => random.Next(0x3000, 0x10000),
                    _ => random.Next(0x10000, 0x30000),
                };
                if (cp is >= 0xD800 and <= 0xDFFF) cp = ' ';
                sb.Append(char.ConvertFromUtf32(cp));
            }
            string text = sb.ToString();
            int[] expected = Qwen.ReferenceEncode(text);
            int[] actual = Qwen.Tokenizer.Encode(text);
            Assert.True(expected.AsSpan().SequenceEqual(actual),
                $"Mismatch for {Escape(text)}: reference [{string.Join(",", expected)}], ours [{string.Join(",", actual)}]");
        }
    }

    [Fact]
    public void ALongDocumentMatchesTheReference()
    {
        var sb = new StringBuilder();
        foreach (string s in SampleTexts) sb.Append(s).Append('\n');
        string text = string.Concat(Enumerable.Repeat(sb.ToString(), 20)) + new string(' ', 300) + new string('中', 500);
        Assert.Equal(Qwen.ReferenceEncode(text), Qwen.Tokenizer.Encode(text));
    }

    // The NFC the reference applies, taken from ICU (string.Normalize); checked to be active below.
    internal static string UnicodeNormalizerReference(string text)
    {
        Assert.Equal("\u00e9", "e\u0301".Normalize(NormalizationForm.FormC));
        return text.Normalize(NormalizationForm.FormC);
    }

    internal static string Escape(string s) =>
        string.Concat(s.Select(c => c < 0x20 || c > 0x7e ? $"\\u{(int)c:X4}" : c.ToString()));
}

using System.Text.RegularExpressions;
using MimoSharp.Text;

namespace MimoSharp.Evaluation;

/// <summary>One passkey-retrieval prompt: the token ids, the key hidden in them and where the needle sentence starts.</summary>
/// <param name="NeedleStart">Index in <paramref name="Tokens"/> of the needle's first token.</param>
public sealed record PasskeyPrompt(int[] Tokens, string Passkey, double Depth, int NeedleStart, int NeedleLength);

/// <summary>
/// Builds passkey-retrieval prompts (Mohtashami &amp; Jaggi, "Landmark Attention", 2023): an instruction, filler text
/// with one needle sentence ("The pass key is 12345. Remember it. 12345 is the pass key.") at a chosen depth, and the
/// question "What is the pass key? The pass key is" at the end. Every prompt has exactly the requested number of tokens:
/// the parts are encoded separately (each starts with a space, so the token boundaries fall where whole-text encoding
/// puts them) and the filler is cycled, then cut, to fill the rest.
/// </summary>
public sealed partial class PasskeyHaystack
{
    public const string Instruction =
        "There is an important info hidden inside a lot of irrelevant text. Find it and memorize it. " +
        "I will quiz you about the important information there.";

    /// <summary>The filler of the original passkey test: plain sentences with nothing to retrieve.</summary>
    public const string DefaultFiller = "The grass is green. The sky is blue. The sun is yellow. Here we go. There and back again.";

    public const string Question = " What is the pass key? The pass key is";

    private readonly Tokenizer _tokenizer;
    private readonly int[] _instruction, _question;
    private readonly int[][] _sentences;

    /// <param name="fillerText">Text to hide the key in, cut into sentences (whitespace folded to single spaces) and
    /// cycled; null = <see cref="DefaultFiller"/>.</param>
    public PasskeyHaystack(Tokenizer tokenizer, string? fillerText = null)
    {
        _tokenizer = tokenizer;
        _instruction = tokenizer.Encode(Instruction, parseSpecial: false);
        _question = tokenizer.Encode(Question, parseSpecial: false);
        string filler = Whitespace().Replace(fillerText ?? DefaultFiller, " ").Trim();
        if (filler.Length == 0) throw new ArgumentException("the filler text is empty", nameof(fillerText));
        // Each sentence keeps its leading space, so a cut between two sentences is a cut whole-text encoding makes too.
        _sentences = SentenceEnd().Split(filler)
            .Where(s => s.Length > 0)
            .Select(s => tokenizer.Encode(" " + s, parseSpecial: false))
            .ToArray();
    }

    public static string NeedleText(string passkey) => $" The pass key is {passkey}. Remember it. {passkey} is the pass key.";

    /// <summary>The shortest prompt that holds a key of <paramref name="digits"/> digits (with no filler at all).</summary>
    public int MinimumLength(int digits) =>
        _instruction.Length + _question.Length + _tokenizer.Encode(NeedleText(new string('9', digits)), parseSpecial: false).Length;

    /// <summary>
    /// A prompt of exactly <paramref name="length"/> tokens with the needle after the share <paramref name="depth"/> of the
    /// filler (0 = right after the instruction, 1 = right before the question), moved to the nearest sentence boundary.
    /// </summary>
    public PasskeyPrompt Build(int length, double depth, string passkey)
    {
        if (!(depth >= 0 && depth <= 1)) throw new ArgumentOutOfRangeException(nameof(depth), $"depth must be in [0, 1], got {depth}");
        int[] needle = _tokenizer.Encode(NeedleText(passkey), parseSpecial: false);
        int fillerLength = length - _instruction.Length - needle.Length - _question.Length;
        if (fillerLength < 0)
            throw new ArgumentOutOfRangeException(nameof(length),
                $"a passkey prompt needs at least {length - fillerLength} tokens (instruction, needle, question), got {length}");

        // The filler: sentences cycled until fillerLength tokens (the last one may be cut); the needle goes in at the
        // sentence boundary (or the filler's end) nearest to depth × fillerLength.
        var filler = new int[fillerLength];
        double target = depth * fillerLength;
        int split = 0, filled = 0;
        for (int s = 0; filled < fillerLength; s = (s + 1) % _sentences.Length)
        {
            int take = Math.Min(_sentences[s].Length, fillerLength - filled);
            _sentences[s].AsSpan(0, take).CopyTo(filler.AsSpan(filled));
            filled += take;
            if (Math.Abs(filled - target) < Math.Abs(split - target)) split = filled;
        }

        var tokens = new int[length];
        var output = tokens.AsSpan();
        Append(ref output, _instruction);
        Append(ref output, filler.AsSpan(0, split));
        Append(ref output, needle);
        Append(ref output, filler.AsSpan(split));
        Append(ref output, _question);
        return new PasskeyPrompt(tokens, passkey, depth, _instruction.Length + split, needle.Length);
    }

    private static void Append(ref Span<int> output, ReadOnlySpan<int> part)
    {
        part.CopyTo(output);
        output = output[part.Length..];
    }

    [GeneratedRegex(@"\s+")]
    private static partial Regex Whitespace();

    [GeneratedRegex(@"(?<=[.!?])\s+")]
    private static partial Regex SentenceEnd();
}

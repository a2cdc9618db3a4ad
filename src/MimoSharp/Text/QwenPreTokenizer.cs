using System.Globalization;

namespace MimoSharp.Text;

/// <summary>
/// The Qwen2/Qwen3 pre-tokenizer split, written out by hand instead of run through .NET's Regex:
/// <code>(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+</code>
/// The reference runs it with Oniguruma, whose case folding and Unicode classes differ from .NET's in
/// corners (.NET's (?i) folds 'ſ' to 's', Oniguruma's match here does not); a state machine over code
/// points pins the behaviour down and is several times faster. Each alternative is tried in order at the
/// current position, with the same greedy/backtracking outcome the regex has.
/// </summary>
internal static class QwenPreTokenizer
{
    public const string Pattern =
        "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

    private enum CharClass : byte { Other, Letter, Number, Space }

    private static readonly CharClass[] s_ascii = BuildAsciiTable();

    private static CharClass[] BuildAsciiTable()
    {
        var table = new CharClass[128];
        for (int c = 0; c < 128; c++)
        {
            table[c] = char.IsAsciiLetter((char)c) ? CharClass.Letter
                : char.IsAsciiDigit((char)c) ? CharClass.Number
                : char.IsWhiteSpace((char)c) ? CharClass.Space
                : CharClass.Other;
        }
        return table;
    }

    /// <summary>Length in chars of the piece that starts at the beginning of <paramref name="s"/> (non-empty).</summary>
    public static int NextPieceLength(ReadOnlySpan<char> s)
    {
        CharClass c0 = Classify(s, 0, out int len0);
        char first = s[0];

        // 1. Contractions, ASCII case-insensitive.
        if (first == '\'' && s.Length > 1)
        {
            char a = (char)(s[1] | 0x20), b = s.Length > 2 ? (char)(s[2] | 0x20) : '\0';
            if (a is 's' or 't' or 'm' or 'd' && IsAsciiLetter(s[1])) return 2;
            if (IsAsciiLetter(s[1]) && s.Length > 2 && IsAsciiLetter(s[2])
                && ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l'))) return 3;
        }

        // 2. [^\r\n\p{L}\p{N}]?\p{L}+
        if (c0 == CharClass.Letter) return ScanWhile(s, len0, CharClass.Letter);
        if (c0 != CharClass.Number && first != '\r' && first != '\n' && len0 < s.Length
            && Classify(s, len0, out int len1) == CharClass.Letter)
            return ScanWhile(s, len0 + len1, CharClass.Letter);

        // 3. \p{N}
        if (c0 == CharClass.Number) return len0;

        // 4. ' ?[^\s\p{L}\p{N}]+[\r\n]*'
        int start = -1;
        if (first == ' ' && s.Length > 1 && Classify(s, 1, out _) == CharClass.Other) start = 1;
        else if (c0 == CharClass.Other) start = 0;
        if (start >= 0)
        {
            int end = ScanWhile(s, start, CharClass.Other);
            while (end < s.Length && s[end] is '\r' or '\n') end++;
            return end;
        }

        // c0 is whitespace (always a single BMP char).
        int runEnd = ScanWhile(s, 0, CharClass.Space);
        // 5. \s*[\r\n]+ : ends just after the last line break of the run.
        int lastBreak = s[..runEnd].LastIndexOfAny('\r', '\n');
        if (lastBreak >= 0) return lastBreak + 1;
        // 6. \s+(?!\S) : the whole run at the end of text, otherwise all but its last char.
        if (runEnd == s.Length || runEnd == 1) return runEnd;
        return runEnd - 1;
        // 7. \s+ is covered by the single-char case above.
    }

    private static bool IsAsciiLetter(char c) => char.IsAsciiLetter(c);

    private static int ScanWhile(ReadOnlySpan<char> s, int i, CharClass wanted)
    {
        while (i < s.Length)
        {
            char c = s[i];
            if (c < 128)
            {
                if (s_ascii[c] != wanted) break;
                i++;
                continue;
            }
            if (Classify(s, i, out int len) != wanted) break;
            i += len;
        }
        return i;
    }

    private static CharClass Classify(ReadOnlySpan<char> s, int i, out int length)
    {
        char c = s[i];
        length = 1;
        if (c < 128) return s_ascii[c];
        UnicodeCategory category;
        if (char.IsHighSurrogate(c) && i + 1 < s.Length && char.IsLowSurrogate(s[i + 1]))
        {
            length = 2;
            category = CharUnicodeInfo.GetUnicodeCategory(char.ConvertToUtf32(c, s[i + 1]));
        }
        else
        {
            if (char.IsWhiteSpace(c)) return CharClass.Space;
            category = CharUnicodeInfo.GetUnicodeCategory(c);
        }
        return category switch
        {
            UnicodeCategory.UppercaseLetter or UnicodeCategory.LowercaseLetter or UnicodeCategory.TitlecaseLetter
                or UnicodeCategory.ModifierLetter or UnicodeCategory.OtherLetter => CharClass.Letter,
            UnicodeCategory.DecimalDigitNumber or UnicodeCategory.LetterNumber or UnicodeCategory.OtherNumber => CharClass.Number,
            _ => CharClass.Other,
        };
    }
}

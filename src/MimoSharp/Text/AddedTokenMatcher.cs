using System.Buffers;

namespace MimoSharp.Text;

/// <summary>
/// Finds added tokens in text the way the reference's Aho-Corasick matcher does (leftmost-longest):
/// at the leftmost position where any token matches, the longest one wins.
/// </summary>
internal sealed class AddedTokenMatcher
{
    private readonly AddedToken[] _byLengthDescending;
    private readonly SearchValues<char> _firstChars;

    public AddedTokenMatcher(IEnumerable<AddedToken> tokens)
    {
        _byLengthDescending = tokens.Where(t => t.Content.Length > 0)
            .OrderByDescending(t => t.Content.Length).ToArray();
        _firstChars = SearchValues.Create(_byLengthDescending.Select(t => t.Content[0]).Distinct().ToArray());
    }

    public bool IsEmpty => _byLengthDescending.Length == 0;

    /// <summary>
    /// Finds the next token at or after <paramref name="from"/>; returns the match span, widened over
    /// whitespace on the sides where the token asks for lstrip/rstrip.
    /// </summary>
    public bool TryFindNext(ReadOnlySpan<char> text, int from, out int start, out int end, out AddedToken token)
    {
        int i = from;
        while (i < text.Length)
        {
            int offset = text[i..].IndexOfAny(_firstChars);
            if (offset < 0) break;
            i += offset;
            foreach (AddedToken candidate in _byLengthDescending)
            {
                if (!text[i..].StartsWith(candidate.Content, StringComparison.Ordinal)) continue;
                token = candidate;
                start = i;
                end = i + candidate.Content.Length;
                if (candidate.LStrip) while (start > from && char.IsWhiteSpace(text[start - 1])) start--;
                if (candidate.RStrip) while (end < text.Length && char.IsWhiteSpace(text[end])) end++;
                return true;
            }
            i++;
        }
        start = end = -1;
        token = null!;
        return false;
    }
}

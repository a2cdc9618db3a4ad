using System.Text;

namespace MimoSharp.Text;

/// <summary>
/// Unicode NFC in managed code. The build uses InvariantGlobalization, under which
/// <see cref="string.Normalize()"/> returns its input unchanged, yet tokenizer.json asks for NFC and the
/// reference implementation applies it; so the canonical tables ship with us (UnicodeNormalizationData).
/// </summary>
internal static class UnicodeNormalizer
{
    private const int SBase = 0xAC00, LBase = 0x1100, VBase = 0x1161, TBase = 0x11A7;
    private const int LCount = 19, VCount = 21, TCount = 28, NCount = VCount * TCount, SCount = LCount * NCount;

    private static readonly Dictionary<int, int> s_combiningClass = new();
    private static readonly Dictionary<int, (int First, int Second)> s_decomposition = new();
    private static readonly Dictionary<long, int> s_composition = new();
    // A code point is "unsafe" when NFC might change text around it: it has a non-zero class, it is not
    // NFC-stable by itself, or it can be the second half of a composition. Text without any is already NFC.
    private static readonly bool[] s_bmpUnsafe = new bool[0x10000];
    private static readonly HashSet<int> s_astralUnsafe = new();

    static UnicodeNormalizer()
    {
        ReadOnlySpan<int> ccc = UnicodeNormalizationData.CombiningClasses;
        for (int i = 0; i < ccc.Length; i += 2)
        {
            s_combiningClass[ccc[i]] = ccc[i + 1];
            MarkUnsafe(ccc[i]);
        }
        ReadOnlySpan<int> dec = UnicodeNormalizationData.CanonicalDecompositions;
        for (int i = 0; i < dec.Length; i += 4)
        {
            int cp = dec[i], first = dec[i + 1], second = dec[i + 2];
            s_decomposition[cp] = (first, second);
            if (dec[i + 3] == 1)
            {
                s_composition[Key(first, second)] = cp;
                MarkUnsafe(second);
            }
            else
            {
                MarkUnsafe(cp);
            }
        }
        for (int cp = VBase; cp < VBase + VCount; cp++) MarkUnsafe(cp);
        for (int cp = TBase + 1; cp < TBase + TCount; cp++) MarkUnsafe(cp);
    }

    private static void MarkUnsafe(int cp)
    {
        if (cp < 0x10000) s_bmpUnsafe[cp] = true;
        else s_astralUnsafe.Add(cp);
    }

    private static long Key(int first, int second) => ((long)first << 21) | (uint)second;

    /// <summary>Returns <paramref name="text"/> in Normalization Form C.</summary>
    public static string ToNfc(string text) => IsSurelyNfc(text) ? text : Compose(text);

    private static bool IsSurelyNfc(ReadOnlySpan<char> text)
    {
        for (int i = 0; i < text.Length; i++)
        {
            char c = text[i];
            if (c < 0x300) continue;
            if (char.IsHighSurrogate(c) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]))
            {
                if (s_astralUnsafe.Contains(char.ConvertToUtf32(c, text[i + 1]))) return false;
                i++;
            }
            else if (s_bmpUnsafe[c])
            {
                return false;
            }
        }
        return true;
    }

    private static int CombiningClass(int cp) => cp < 0x300 ? 0 : s_combiningClass.GetValueOrDefault(cp);

    private static string Compose(string text)
    {
        var buffer = new List<int>(text.Length + 8);
        foreach (Rune rune in text.EnumerateRunes()) Decompose(rune.Value, buffer);
        ReorderCanonically(buffer);

        // Canonical composition (UAX #15): a character joins the last starter unless a character of
        // equal or higher class sits between them ("blocked").
        int starterPos = 0;
        int lastClass = buffer.Count > 0 ? CombiningClass(buffer[0]) : 0;
        if (lastClass != 0) lastClass = 256;
        int written = buffer.Count > 0 ? 1 : 0;
        for (int i = 1; i < buffer.Count; i++)
        {
            int ch = buffer[i];
            int chClass = CombiningClass(ch);
            int composite = lastClass == 256 ? -1 : ComposePair(buffer[starterPos], ch);
            if (composite >= 0 && (lastClass < chClass || lastClass == 0))
            {
                buffer[starterPos] = composite;
                continue;
            }
            if (chClass == 0) starterPos = written;
            lastClass = chClass;
            buffer[written++] = ch;
        }

        var sb = new StringBuilder(written);
        for (int i = 0; i < written; i++) sb.Append(new Rune(buffer[i]).ToString());
        return sb.ToString();
    }

    private static void Decompose(int cp, List<int> output)
    {
        int s = cp - SBase;
        if (s >= 0 && s < SCount)
        {
            output.Add(LBase + s / NCount);
            output.Add(VBase + s % NCount / TCount);
            if (s % TCount != 0) output.Add(TBase + s % TCount);
            return;
        }
        if (cp >= 0xC0 && s_decomposition.TryGetValue(cp, out var parts))
        {
            Decompose(parts.First, output);
            if (parts.Second >= 0) Decompose(parts.Second, output);
            return;
        }
        output.Add(cp);
    }

    private static void ReorderCanonically(List<int> buffer)
    {
        // Insertion sort by class within each run of non-starters; stable, and runs are short.
        for (int i = 1; i < buffer.Count; i++)
        {
            int cls = CombiningClass(buffer[i]);
            if (cls == 0) continue;
            int j = i;
            int ch = buffer[i];
            while (j > 0)
            {
                int prevClass = CombiningClass(buffer[j - 1]);
                if (prevClass <= cls) break;
                buffer[j] = buffer[j - 1];
                j--;
            }
            buffer[j] = ch;
        }
    }

    private static int ComposePair(int first, int second)
    {
        int l = first - LBase;
        if (l >= 0 && l < LCount)
        {
            int v = second - VBase;
            return v >= 0 && v < VCount ? SBase + (l * VCount + v) * TCount : -1;
        }
        int s = first - SBase;
        if (s >= 0 && s < SCount && s % TCount == 0)
        {
            int t = second - TBase;
            return t > 0 && t < TCount ? first + t : -1;
        }
        return s_composition.TryGetValue(Key(first, second), out int composite) ? composite : -1;
    }
}

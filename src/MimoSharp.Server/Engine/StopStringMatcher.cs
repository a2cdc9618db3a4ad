using System.Text;

namespace MimoSharp.Server.Engine;

/// <summary>
/// OpenAI's "stop": generation ends where the text first contains one of the stop strings, which are not
/// part of the output. Text that might be the beginning of a stop string is held back until the next piece
/// decides it, so what <see cref="Push"/> returns is always final. Not thread-safe; one per response.
/// </summary>
internal sealed class StopStringMatcher(IReadOnlyList<string> stops)
{
    private readonly StringBuilder _pending = new();

    /// <summary>True once a stop string was seen; everything after it is dropped.</summary>
    public bool Stopped { get; private set; }

    /// <summary>Adds generated text; returns the part that is certainly output.</summary>
    public string Push(string text)
    {
        if (Stopped || text.Length == 0) return "";
        if (stops.Count == 0) return text;
        _pending.Append(text);
        string s = _pending.ToString();
        int cut = -1;
        foreach (string stop in stops)
        {
            int at = s.IndexOf(stop, StringComparison.Ordinal);
            if (at >= 0 && (cut < 0 || at < cut)) cut = at;
        }
        if (cut >= 0)
        {
            Stopped = true;
            _pending.Clear();
            return s[..cut];
        }
        int hold = 0;
        foreach (string stop in stops) hold = Math.Max(hold, PartialSuffix(s, stop));
        _pending.Clear().Append(s, s.Length - hold, hold);
        return s[..^hold];
    }

    /// <summary>The end of generation: held-back text was not a stop string after all.</summary>
    public string Flush()
    {
        string s = Stopped ? "" : _pending.ToString();
        _pending.Clear();
        return s;
    }

    // Longest proper prefix of stop that ends the text.
    private static int PartialSuffix(string text, string stop)
    {
        for (int k = Math.Min(stop.Length - 1, text.Length); k > 0; k--)
            if (text.AsSpan(text.Length - k).SequenceEqual(stop.AsSpan(0, k))) return k;
        return 0;
    }
}

namespace MimoSharp.Model;

/// <summary>
/// The rows of one forward pass: consecutive runs of tokens (segments), each continuing one
/// sequence at its own start position. One pass can serve several sequences (batched serving)
/// and several positions of each (prefill, speculative verification).
/// </summary>
public sealed class BatchLayout
{
    public IReadOnlyList<Segment> Segments { get; }
    public int RowCount { get; }

    /// <summary>Absolute position of each row.</summary>
    public int[] Positions { get; }

    public BatchLayout(IReadOnlyList<Segment> segments)
    {
        Segments = segments;
        RowCount = segments.Sum(s => s.Length);
        Positions = new int[RowCount];
        int row = 0;
        foreach (var s in segments)
        {
            if (s.FirstRow != row) throw new ArgumentException("segments must be consecutive and start at row 0");
            for (int i = 0; i < s.Length; i++) Positions[row + i] = s.StartPosition + i;
            row += s.Length;
        }
    }

    public static BatchLayout Single(int startPosition, int length) => new([new Segment(0, length, startPosition)]);

    /// <summary>Rows [FirstRow, FirstRow + Length) at positions StartPosition, StartPosition + 1, ….</summary>
    public readonly record struct Segment(int FirstRow, int Length, int StartPosition);
}

namespace MimoSharp.Model;

/// <summary>
/// The rows of one forward pass: consecutive runs of tokens (segments), each continuing one
/// sequence at its own start position. One pass can serve several sequences (batched serving)
/// and several positions of each (prefill, speculative verification). A decoder keeps one layout and
/// <see cref="Set"/>s it every step, so that a step allocates nothing.
/// </summary>
public sealed class BatchLayout
{
    private Segment[] _segments = [];
    private int[] _positions = [];
    private int _segmentCount;

    public ReadOnlySpan<Segment> Segments => _segments.AsSpan(0, _segmentCount);
    public int RowCount { get; private set; }

    /// <summary>Absolute position of each row.</summary>
    public ReadOnlySpan<int> Positions => _positions.AsSpan(0, RowCount);

    /// <summary>An empty layout, to be <see cref="Set"/> before use.</summary>
    public BatchLayout()
    {
    }

    public BatchLayout(ReadOnlySpan<Segment> segments) => Set(segments);

    /// <summary>Makes this the layout of <paramref name="segments"/>, reusing its buffers where they are large enough.</summary>
    public BatchLayout Set(ReadOnlySpan<Segment> segments)
    {
        int rows = 0;
        foreach (var s in segments)
        {
            if (s.FirstRow != rows) throw new ArgumentException("segments must be consecutive and start at row 0");
            rows += s.Length;
        }
        if (_segments.Length < segments.Length) _segments = new Segment[segments.Length];
        if (_positions.Length < rows) _positions = new int[rows];
        segments.CopyTo(_segments);
        _segmentCount = segments.Length;
        RowCount = rows;
        foreach (var s in segments)
            for (int i = 0; i < s.Length; i++) _positions[s.FirstRow + i] = s.StartPosition + i;
        return this;
    }

    public static BatchLayout Single(int startPosition, int length) => new([new Segment(0, length, startPosition)]);

    /// <summary>Rows [FirstRow, FirstRow + Length) at positions StartPosition, StartPosition + 1, ….</summary>
    public readonly record struct Segment(int FirstRow, int Length, int StartPosition);
}

namespace MimoSharp.Inference;

/// <summary>
/// Rotated keys and scaled values of one attention layer for one sequence (spec §3).
/// Sliding-window layers keep a ring buffer of <c>window + lookahead</c> positions, so their
/// memory does not grow with the context; global layers grow. Positions are absolute and
/// contiguous from 0 to <see cref="Count"/> − 1; <see cref="Truncate"/> rolls back rejected
/// speculative positions.
/// </summary>
public sealed class LayerKvCache
{
    private float[] _keys;
    private float[] _values;
    private int _slots;

    public int KeyWidth { get; }
    public int ValueWidth { get; }

    /// <summary>Ring capacity in positions, or null for a growing (global-attention) cache.</summary>
    public int? Capacity { get; }

    /// <summary>Window the layer attends over (0 = unlimited); truncation must keep it intact.</summary>
    public int Window { get; }

    /// <summary>Number of positions written so far (the next position to write).</summary>
    public int Count { get; private set; }

    public LayerKvCache(int keyWidth, int valueWidth, int window, int lookahead)
    {
        KeyWidth = keyWidth;
        ValueWidth = valueWidth;
        Window = window;
        if (window > 0)
        {
            Capacity = window + Math.Max(0, lookahead);
            _slots = Capacity.Value;
        }
        else
        {
            _slots = 64;
        }
        _keys = new float[(long)_slots * keyWidth];
        _values = new float[(long)_slots * valueWidth];
    }

    private int _skippedBelow;

    /// <summary>Positions below this were skipped by <see cref="SkipTo"/> and never written.</summary>
    public int SkippedBelow => _skippedBelow;

    /// <summary>Oldest position still held.</summary>
    public int FirstAvailable => Capacity is int c ? Math.Max(_skippedBelow, Count - c) : 0;

    public ReadOnlySpan<float> Key(int position) => _keys.AsSpan(Slot(position) * KeyWidth, KeyWidth);

    public ReadOnlySpan<float> Value(int position) => _values.AsSpan(Slot(position) * ValueWidth, ValueWidth);

    /// <summary>The first float of a position's key, unchecked: the caller has checked the range with <see cref="Key"/>.</summary>
    internal ref float KeyRef(int position) => ref _keys[(long)UncheckedSlot(position) * KeyWidth];

    /// <summary>The first float of a position's value, unchecked like <see cref="KeyRef"/>.</summary>
    internal ref float ValueRef(int position) => ref _values[(long)UncheckedSlot(position) * ValueWidth];

    /// <summary>Positions from this one that lie consecutively in the buffers (up to the ring's end).</summary>
    internal int ContiguousFrom(int position) => Capacity is int c ? c - position % c : Count - position;

    private int UncheckedSlot(int position) => Capacity is int c ? position % c : position;

    private int Slot(int position)
    {
        if (position < FirstAvailable || position >= Count)
            throw new ArgumentOutOfRangeException(nameof(position),
                $"position {position} is not in the cache (holds {FirstAvailable}..{Count - 1})");
        return Capacity is int c ? position % c : position;
    }

    public void Append(ReadOnlySpan<float> key, ReadOnlySpan<float> value)
    {
        if (Capacity is null && Count == _slots) Grow();
        int slot = Capacity is int c ? Count % c : Count;
        key.CopyTo(_keys.AsSpan(slot * KeyWidth, KeyWidth));
        value.CopyTo(_values.AsSpan(slot * ValueWidth, ValueWidth));
        Count++;
    }

    /// <summary>Forgets positions ≥ <paramref name="count"/>. A ring buffer can roll back only as far as its look-ahead.</summary>
    public void Truncate(int count)
    {
        if (count < 0 || count > Count) throw new ArgumentOutOfRangeException(nameof(count));
        if (count < _skippedBelow) throw new InvalidOperationException($"positions before {_skippedBelow} were skipped and cannot be restored");
        if (Capacity is int c && Window > 0)
        {
            // The next query at position `count` needs keys count-W+1 .. count-1 still in the ring
            // (skipped positions were never written, so they are not lost by rolling back).
            int needed = Math.Max(_skippedBelow, count - Window + 1);
            if (needed < Count - c)
                throw new InvalidOperationException(
                    $"cannot roll back {Count - count} positions: the sliding-window cache holds only {c - Window} positions of look-ahead");
        }
        Count = count;
    }

    public void Clear()
    {
        Count = 0;
        _skippedBelow = 0;
    }

    /// <summary>
    /// Moves a sliding-window cache forward to <paramref name="count"/> without writing the skipped positions,
    /// which are older than any later query's window; a cache that fell behind resumes from recent states only.
    /// </summary>
    public void SkipTo(int count)
    {
        if (Window <= 0) throw new InvalidOperationException("only a sliding-window cache can skip positions");
        if (count < Count) throw new ArgumentOutOfRangeException(nameof(count), "cannot skip backwards; use Truncate");
        Count = count;
        _skippedBelow = count;
    }

    /// <summary>Bytes held by this cache's buffers.</summary>
    public long AllocatedBytes => ((long)_keys.Length + _values.Length) * sizeof(float);

    private void Grow()
    {
        int slots = checked(_slots * 2);
        Array.Resize(ref _keys, slots * KeyWidth);
        Array.Resize(ref _values, slots * ValueWidth);
        _slots = slots;
    }
}

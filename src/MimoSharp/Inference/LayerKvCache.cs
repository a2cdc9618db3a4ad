using MimoSharp.Tensors;

namespace MimoSharp.Inference;

/// <summary>How a KV cache stores keys and values (<c>--kv-cache</c>).</summary>
public enum KvCacheDtype
{
    /// <summary>float32: exactly what the layer computed.</summary>
    F32,

    /// <summary>bfloat16: half the bytes; keys and values rounded to 8 significant bits.</summary>
    BF16,

    /// <summary>IEEE half: half the bytes; 11 significant bits, values beyond ±65504 overflow.</summary>
    F16,
}

/// <summary>
/// Rotated keys and scaled values of one attention layer for one sequence (spec §3).
/// Sliding-window layers keep a ring buffer of <c>window + lookahead</c> positions, so their
/// memory does not grow with the context; global layers grow. Positions are absolute and
/// contiguous from 0 to <see cref="Count"/> − 1; <see cref="Truncate"/> rolls back rejected
/// speculative positions. A 16-bit cache (<see cref="KvCacheDtype"/>) stores the rounded values; the attention
/// step rounds a pass's own keys and values the same way before using them, so a position reads the same numbers
/// whether it is attended in the pass that computed it or from the cache later.
/// </summary>
public sealed class LayerKvCache
{
    // One pair is used: float32, or 16-bit patterns for the other dtypes.
    private float[] _keys = [];
    private float[] _values = [];
    private ushort[] _keys16 = [];
    private ushort[] _values16 = [];
    private int _slots;

    public int KeyWidth { get; }
    public int ValueWidth { get; }

    /// <summary>Ring capacity in positions, or null for a growing (global-attention) cache.</summary>
    public int? Capacity { get; }

    /// <summary>Window the layer attends over (0 = unlimited); truncation must keep it intact.</summary>
    public int Window { get; }

    /// <summary>Number of positions written so far (the next position to write).</summary>
    public int Count { get; private set; }

    public KvCacheDtype Dtype { get; }

    /// <summary>The 16-bit format of the stored keys and values; null for float32.</summary>
    public HalfFormat? HalfFormat => Dtype switch
    {
        KvCacheDtype.BF16 => Tensors.HalfFormat.BF16,
        KvCacheDtype.F16 => Tensors.HalfFormat.F16,
        _ => null,
    };

    public LayerKvCache(int keyWidth, int valueWidth, int window, int lookahead, KvCacheDtype dtype = KvCacheDtype.F32)
    {
        if (!Enum.IsDefined(dtype)) throw new ArgumentOutOfRangeException(nameof(dtype), $"unknown KV cache dtype {dtype}");
        Dtype = dtype;
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
        Allocate(_slots);
    }

    private void Allocate(int slots)
    {
        if (Dtype == KvCacheDtype.F32)
        {
            Array.Resize(ref _keys, checked(slots * KeyWidth));
            Array.Resize(ref _values, checked(slots * ValueWidth));
        }
        else
        {
            Array.Resize(ref _keys16, checked(slots * KeyWidth));
            Array.Resize(ref _values16, checked(slots * ValueWidth));
        }
        _slots = slots;
    }

    private int _skippedBelow;

    /// <summary>Positions below this were skipped by <see cref="SkipTo"/> and never written.</summary>
    public int SkippedBelow => _skippedBelow;

    /// <summary>Oldest position still held.</summary>
    public int FirstAvailable => Capacity is int c ? Math.Max(_skippedBelow, Count - c) : 0;

    /// <summary>A position's key as stored, widened to float32 into <paramref name="destination"/>.</summary>
    public ReadOnlySpan<float> Key(int position, Span<float> destination = default) =>
        Read(_keys, _keys16, Slot(position), KeyWidth, destination);

    /// <summary>A position's value as stored, widened to float32 into <paramref name="destination"/>.</summary>
    public ReadOnlySpan<float> Value(int position, Span<float> destination = default) =>
        Read(_values, _values16, Slot(position), ValueWidth, destination);

    private ReadOnlySpan<float> Read(float[] f32, ushort[] f16, int slot, int width, Span<float> destination)
    {
        if (HalfFormat is not Tensors.HalfFormat format) return f32.AsSpan(slot * width, width);
        if (destination.Length < width) destination = new float[width];
        HalfFloats.Decode(f16.AsSpan(slot * width, width), destination, format);
        return destination[..width];
    }

    /// <summary>Checks that a position is held (the unchecked references below are then safe).</summary>
    internal void CheckHeld(int position) => Slot(position);

    /// <summary>The first float of a position's key in a float32 cache, unchecked: the caller has checked the range with <see cref="CheckHeld"/>.</summary>
    internal ref float KeyRef(int position) => ref _keys[(long)UncheckedSlot(position) * KeyWidth];

    /// <summary>The first float of a position's value in a float32 cache, unchecked like <see cref="KeyRef"/>.</summary>
    internal ref float ValueRef(int position) => ref _values[(long)UncheckedSlot(position) * ValueWidth];

    /// <summary>The first 16-bit pattern of a position's key in a 16-bit cache, unchecked like <see cref="KeyRef"/>.</summary>
    internal ref ushort KeyRef16(int position) => ref _keys16[(long)UncheckedSlot(position) * KeyWidth];

    /// <summary>The first 16-bit pattern of a position's value in a 16-bit cache, unchecked like <see cref="KeyRef"/>.</summary>
    internal ref ushort ValueRef16(int position) => ref _values16[(long)UncheckedSlot(position) * ValueWidth];

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
        if (HalfFormat is Tensors.HalfFormat format)
        {
            HalfFloats.Encode(key[..KeyWidth], _keys16.AsSpan(slot * KeyWidth, KeyWidth), format);
            HalfFloats.Encode(value[..ValueWidth], _values16.AsSpan(slot * ValueWidth, ValueWidth), format);
        }
        else
        {
            key[..KeyWidth].CopyTo(_keys.AsSpan(slot * KeyWidth, KeyWidth));
            value[..ValueWidth].CopyTo(_values.AsSpan(slot * ValueWidth, ValueWidth));
        }
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
    public long AllocatedBytes => ((long)_keys.Length + _values.Length) * sizeof(float) + ((long)_keys16.Length + _values16.Length) * sizeof(ushort);

    /// <summary>Bytes one position takes in a cache of this dtype.</summary>
    public static int BytesPerPosition(int keyWidth, int valueWidth, KvCacheDtype dtype) =>
        (keyWidth + valueWidth) * (dtype == KvCacheDtype.F32 ? sizeof(float) : sizeof(ushort));

    private void Grow() => Allocate(checked(_slots * 2));
}

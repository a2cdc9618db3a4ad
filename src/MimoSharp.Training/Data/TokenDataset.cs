namespace MimoSharp.Training.Data;

/// <summary>
/// The token stream of one split cut into non-overlapping windows of <c>length</c> tokens. Training visits the
/// windows in a shuffled order that is a pure function of (seed, epoch), so the batch at any data position can be
/// rebuilt exactly — resuming needs nothing but the position.
/// </summary>
public sealed class TokenDataset
{
    private readonly int[] _tokens;
    private readonly int _length;
    private readonly ulong _seed;
    private int[]? _order;
    private long _orderEpoch = -1;

    public long WindowCount { get; }
    public long TokenCount => _tokens.Length;
    public int WindowLength => _length;

    public TokenDataset(int[] tokens, int length, ulong seed, string description)
    {
        if (length < 4) throw new ArgumentException($"context length must be at least 4 tokens, got {length}");
        _tokens = tokens;
        _length = length;
        _seed = seed;
        WindowCount = tokens.Length / length;
        if (WindowCount == 0)
            throw new InvalidDataException($"{description} has {tokens.Length} tokens, fewer than one window of {length}");
    }

    /// <summary>Loads every shard of a split ("train" or "heldout") of a packed corpus.</summary>
    public static TokenDataset Load(string directory, CorpusMeta meta, bool heldout, int length, ulong seed)
    {
        var shards = heldout ? meta.Heldout : meta.Train;
        string split = heldout ? "held-out" : "train";
        if (shards.Count == 0) throw new InvalidDataException($"{Path.Combine(directory, CorpusMeta.FileName)} lists no {split} shards");
        var all = new List<int>();
        foreach (var shard in shards) all.AddRange(ShardReader.Read(directory, shard, meta.VocabSize));
        return new TokenDataset(all.ToArray(), length, seed, $"the {split} split of {directory}");
    }

    /// <summary>Window number <paramref name="index"/> in storage order (used for evaluation).</summary>
    public ReadOnlySpan<int> Window(long index) => _tokens.AsSpan((int)(index * _length), _length);

    /// <summary>Fills [batch, length] with the windows at data positions position .. position+batch-1 of the shuffled order.</summary>
    public void Batch(long position, int batch, long[] destination)
    {
        for (int b = 0; b < batch; b++)
        {
            long p = position + b;
            long epoch = p / WindowCount;
            if (epoch != _orderEpoch) Shuffle(epoch);
            var window = Window(_order![p % WindowCount]);
            for (int i = 0; i < _length; i++) destination[b * _length + i] = window[i];
        }
    }

    private void Shuffle(long epoch)
    {
        _order ??= new int[WindowCount];
        for (int i = 0; i < _order.Length; i++) _order[i] = i;
        var rng = new SplitMix64(_seed ^ (0x9E3779B97F4A7C15UL * (ulong)(epoch + 1)));
        for (int i = _order.Length - 1; i > 0; i--)
        {
            int j = (int)(rng.Next() % (ulong)(i + 1));
            (_order[i], _order[j]) = (_order[j], _order[i]);
        }
        _orderEpoch = epoch;
    }
}

/// <summary>SplitMix64: a tiny generator whose whole state is one number.</summary>
public struct SplitMix64(ulong state)
{
    private ulong _state = state;

    public ulong Next()
    {
        ulong z = _state += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }
}

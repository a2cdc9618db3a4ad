using System.Collections.Concurrent;

namespace MimoSharp.Text;

/// <summary>
/// Byte-level BPE over one pre-tokenized piece: start from one token per UTF-8 byte, then repeatedly apply
/// the lowest-ranked merge, leftmost first on ties — the order the reference's priority queue produces.
/// Results are cached per piece, since natural text repeats its words.
/// </summary>
internal sealed class BytePairEncoder
{
    private const int MaxCacheEntries = 1 << 18;

    private readonly int[] _byteToId;
    private readonly Dictionary<long, int> _mergeRank;
    private readonly int[] _mergeResult;
    private readonly ConcurrentDictionary<string, int[]> _cache = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, int[]>.AlternateLookup<ReadOnlySpan<char>> _cacheBySpan;

    private int _cacheCount; // ConcurrentDictionary.Count takes every lock, far too slow per piece

    [ThreadStatic] private static Scratch? t_scratch;

    /// <param name="byteToId">Token id of each single byte.</param>
    /// <param name="mergeRank">Rank of the merge of a (left id, right id) pair, keyed by <see cref="PairKey"/>.</param>
    /// <param name="mergeResult">Token id produced by the merge of each rank.</param>
    public BytePairEncoder(int[] byteToId, Dictionary<long, int> mergeRank, int[] mergeResult)
    {
        _byteToId = byteToId;
        _mergeRank = mergeRank;
        _mergeResult = mergeResult;
        _cacheBySpan = _cache.GetAlternateLookup<ReadOnlySpan<char>>();
    }

    public static long PairKey(int left, int right) => ((long)left << 32) | (uint)right;

    /// <summary>
    /// The dictionary for merge ranks. long's own hash is high XOR low, which sends all pairs of small ids
    /// into a few buckets (a 40x slowdown measured on uncached words); a multiplicative hash spreads them.
    /// </summary>
    public static Dictionary<long, int> CreateMergeDictionary(int capacity) => new(capacity, PairKeyComparer.Instance);

    private sealed class PairKeyComparer : IEqualityComparer<long>
    {
        public static readonly PairKeyComparer Instance = new();

        public bool Equals(long x, long y) => x == y;

        public int GetHashCode(long key) => (int)(((ulong)key * 0x9E3779B97F4A7C15UL) >> 32);
    }

    /// <summary>Appends the ids of one pre-tokenized piece.</summary>
    public void EncodePiece(ReadOnlySpan<char> piece, List<int> output)
    {
        if (piece.Length == 1 && piece[0] < 0x80)
        {
            output.Add(_byteToId[piece[0]]);
            return;
        }
        if (_cacheBySpan.TryGetValue(piece, out int[]? cached))
        {
            output.AddRange(cached);
            return;
        }
        int[] ids = Merge(piece);
        if (Interlocked.Increment(ref _cacheCount) > MaxCacheEntries)
        {
            _cache.Clear();
            Interlocked.Exchange(ref _cacheCount, 0);
        }
        _cacheBySpan.TryAdd(piece, ids);
        output.AddRange(ids);
    }

    private int[] Merge(ReadOnlySpan<char> piece)
    {
        Scratch scratch = t_scratch ??= new Scratch();
        int n = System.Text.Encoding.UTF8.GetByteCount(piece);
        scratch.Ensure(n);
        Span<byte> bytes = scratch.Bytes.AsSpan(0, n);
        System.Text.Encoding.UTF8.GetBytes(piece, bytes);

        int[] ids = scratch.Ids, next = scratch.Next, prev = scratch.Prev;
        if (n <= ShortPiece) return MergeShort(bytes, ids);
        for (int i = 0; i < n; i++)
        {
            ids[i] = _byteToId[bytes[i]];
            prev[i] = i - 1;
            next[i] = i + 1;
        }

        var queue = scratch.Queue;
        queue.Clear();
        for (int i = 0; i + 1 < n; i++) TryEnqueue(queue, i, ids[i], ids[i + 1]);

        int count = n;
        while (queue.TryDequeue(out int pos, out long priority))
        {
            int j = next[pos];
            if (ids[pos] < 0 || j >= n) continue;
            int rank = (int)(priority >> 32);
            // Stale entry: one side already took part in another merge.
            if (!_mergeRank.TryGetValue(PairKey(ids[pos], ids[j]), out int current) || current != rank) continue;

            ids[pos] = _mergeResult[rank];
            ids[j] = -1;
            next[pos] = next[j];
            if (next[j] < n) prev[next[j]] = pos;
            count--;

            if (prev[pos] >= 0) TryEnqueue(queue, prev[pos], ids[prev[pos]], ids[pos]);
            if (next[pos] < n) TryEnqueue(queue, pos, ids[pos], ids[next[pos]]);
        }

        var result = new int[count];
        for (int i = 0, k = 0; i < n; i = next[i]) result[k++] = ids[i];
        return result;
    }

    private const int ShortPiece = 24;

    // For short pieces a plain scan for the lowest-ranked pair (leftmost on ties) beats the queue; both apply
    // merges in exactly the same order.
    private int[] MergeShort(ReadOnlySpan<byte> bytes, int[] ids)
    {
        int count = bytes.Length;
        Span<int> ranks = stackalloc int[ShortPiece];
        for (int i = 0; i < count; i++) ids[i] = _byteToId[bytes[i]];
        for (int i = 0; i + 1 < count; i++) ranks[i] = RankOf(ids[i], ids[i + 1]);
        while (count > 1)
        {
            int best = -1, bestRank = int.MaxValue;
            for (int i = 0; i + 1 < count; i++)
            {
                if (ranks[i] < bestRank) { bestRank = ranks[i]; best = i; }
            }
            if (best < 0) break;
            ids[best] = _mergeResult[bestRank];
            count--;
            Array.Copy(ids, best + 2, ids, best + 1, count - best - 1);
            ranks[(best + 1)..(count + 1)].CopyTo(ranks[best..]);
            if (best > 0) ranks[best - 1] = RankOf(ids[best - 1], ids[best]);
            if (best + 1 < count) ranks[best] = RankOf(ids[best], ids[best + 1]);
        }
        return ids.AsSpan(0, count).ToArray();
    }

    private int RankOf(int left, int right) =>
        _mergeRank.TryGetValue(PairKey(left, right), out int rank) ? rank : int.MaxValue;

    private void TryEnqueue(PriorityQueue<int, long> queue, int pos, int left, int right)
    {
        if (_mergeRank.TryGetValue(PairKey(left, right), out int rank))
            queue.Enqueue(pos, ((long)rank << 32) | (uint)pos);
    }

    private sealed class Scratch
    {
        public byte[] Bytes = new byte[256];
        public int[] Ids = new int[256], Next = new int[256], Prev = new int[256];
        public readonly PriorityQueue<int, long> Queue = new();

        public void Ensure(int n)
        {
            if (Bytes.Length >= n) return;
            int size = Math.Max(n, Bytes.Length * 2);
            Bytes = new byte[size];
            Ids = new int[size];
            Next = new int[size];
            Prev = new int[size];
        }
    }
}

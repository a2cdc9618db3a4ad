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
        if (_cache.Count >= MaxCacheEntries) _cache.Clear();
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

using System.Buffers;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using MimoSharp.Config;
using MimoSharp.Inference;
using MimoSharp.Tensors;

namespace MimoSharp.Model;

/// <summary>
/// The softmax part of grouped-query attention (spec §3) for one segment's query rows, read the way the bytes
/// want it (flash attention): one pass over a KV head's keys and values serves every query head of its group, and
/// the keys are cut at fixed absolute positions into chunks of <see cref="ChunkKeys"/>, each with its own maximum,
/// sum and weighted values, folded into a row's running state in chunk order (the sink starts the state). With
/// few rows (decoding) the chunks are the parallel jobs, so a long context splits over the cores along the
/// sequence; with many rows (prefill) a job is a tile of consecutive rows × one KV head that walks the chunks once,
/// serving every row of the tile from each chunk while its keys and values are in L2. The chunk bounds depend
/// only on positions and every row folds its chunks in the same order, so a row's result is the same however the
/// sequence was split into passes, tiles or jobs, or batched.
/// </summary>
internal static class ChunkedAttention
{
    /// <summary>Keys per chunk: a group's scores for one chunk (8 heads × 512) fit in L1.</summary>
    public const int ChunkKeys = 512;

    /// <summary>
    /// Prefill: the most query rows per tile. A global-layer row of the default model reads 320 bytes per key, so
    /// a tile of 32 cuts the keys and values it reads from memory 32-fold, to 10 bytes per key per row.
    /// </summary>
    private const int MaxTileRows = 32;

    /// <summary>Query heads served per pass over a chunk: the lanes of a score vector.</summary>
    private const int Lanes = 8;

    // Per-thread scratch of the chunk kernel (no allocation or pool traffic per chunk): scores [key, lane], the
    // transposed queries [dim, lane], a 16-bit cache's widened keys and values, one chunk's results, and the
    // running states of a tile's rows.
    [ThreadStatic] private static float[]? t_scores, t_queries, t_wideKeys, t_wideValues, t_partial, t_states;

    /// <summary>
    /// The scratch buffer, grown to hold <paramref name="length"/> floats. It grows at least twofold: a job's chunk results
    /// grow with the context (one more chunk every 512 positions), and decoding steps should not allocate each time.
    /// </summary>
    private static float[] Scratch(ref float[]? buffer, int length)
    {
        if (buffer is null || buffer.Length < length) buffer = new float[buffer is null ? length : Math.Max(length, 2 * buffer.Length)];
        return buffer;
    }

    /// <summary>
    /// o[row, head] = softmax over the row's visible keys (with the head's sink) of q·k·scale, times v; q, k, v and o
    /// are this pass's rows (k, v of earlier positions come from <paramref name="cache"/>).
    /// </summary>
    public static void Run(AttentionShape shape, int window, float scoreScale, float[]? sinks,
        float[] q, float[] k, float[] v, float[] o, BatchLayout.Segment seg, LayerKvCache cache)
    {
        var job = new Job(shape, window, scoreScale, sinks, q, k, v, o, seg, cache);
        int rows = seg.Length, groups = shape.NumKvHeads, threads = ComputePool.CurrentThreads;
        int maxChunks = 0;
        for (int r = 0; r < rows; r++) maxChunks = Math.Max(maxChunks, job.LastChunk(r) - job.FirstChunk(r) + 1);
        long work = (long)rows * shape.NumHeads * Math.Min(seg.StartPosition + rows, maxChunks * ChunkKeys) * (shape.HeadDim + shape.VHeadDim);
        bool parallel = work >= 1 << 15;
        if (maxChunks == 1 || rows * groups >= 2 * threads)
        {
            // Tiles of consecutive rows × one KV head: as many rows as MaxTileRows allows while there are still
            // two tiles per thread, so the threads even out.
            job.TileRows = Math.Clamp(rows * groups / (2 * threads), 1, MaxTileRows);
            int tiles = (rows + job.TileRows - 1) / job.TileRows * groups;
            if (parallel) ComputePool.For(tiles, ref job);
            else for (int j = 0; j < tiles; j++) job.Run(j);
            return;
        }
        // Decoding a long context: runs of consecutive chunks of the sequence are the parallel jobs (a few per
        // thread, so the threads even out; consecutive, so a chunk can fetch the next one's keys ahead), folded after.
        float[] partials = ArrayPool<float>.Shared.Rent(rows * groups * maxChunks * job.PartialFloats);
        try
        {
            job.Shared = partials;
            job.MaxChunks = maxChunks;
            job.PartChunks = (maxChunks + 4 * threads - 1) / (4 * threads);
            int parts = (maxChunks + job.PartChunks - 1) / job.PartChunks;
            if (parallel) ComputePool.For(rows * groups * parts, ref job);
            else for (int j = 0; j < rows * groups * parts; j++) job.Run(j);
            for (int j = 0; j < rows * groups; j++)
                job.Merge(j / groups, j % groups, partials.AsSpan(j * maxChunks * job.PartialFloats, maxChunks * job.PartialFloats));
        }
        finally
        {
            ArrayPool<float>.Shared.Return(partials);
        }
    }

    /// <summary>
    /// exp(x) for x ≤ 0, the softmax's range: x = n·ln2 + r (|r| ≤ ln2/2, Cody–Waite split), exp(r) by its Taylor
    /// polynomial to degree 6 (relative error below 2e-7), times 2^n from the exponent bits; x below −87.3 (where
    /// exp leaves float32's normal range, 1e-38 of the row's largest term) gives 0. Plain vector arithmetic
    /// and fused multiply-adds only, so every instruction set computes the same bits; 4× faster here than
    /// <see cref="Vector256.Exp(Vector256{float})"/>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector256<float> Exp(Vector256<float> x)
    {
        var n = Vector256.Round(x * Vector256.Create(1.44269504f));
        var r = Vector256.FusedMultiplyAdd(n, Vector256.Create(-0.693359375f), x);
        r = Vector256.FusedMultiplyAdd(n, Vector256.Create(2.12194440e-4f), r);
        var p = Vector256.Create(1f / 720);
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(1f / 120));
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(1f / 24));
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(1f / 6));
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(0.5f));
        p = Vector256.FusedMultiplyAdd(p, r, Vector256<float>.One);
        p = Vector256.FusedMultiplyAdd(p, r, Vector256<float>.One);
        var low = Vector256.LessThan(x, Vector256.Create(-87.3f));
        var scale = Vector256.ShiftLeft(Vector256.ConvertToInt32(Vector256.ConditionalSelect(low, Vector256<float>.Zero, n)) + Vector256.Create(127), 23).AsSingle();
        return Vector256.ConditionalSelect(low, Vector256<float>.Zero, p * scale);
    }

    private struct Job(AttentionShape shape, int window, float scoreScale, float[]? sinks,
        float[] q, float[] k, float[] v, float[] o, BatchLayout.Segment seg, LayerKvCache cache) : IParallelBody
    {
        /// <summary>Decoding only: every (row, group)'s chunk results, <see cref="MaxChunks"/> each; null = tiles of rows.</summary>
        public float[]? Shared;
        public int MaxChunks;

        /// <summary>Decoding only: consecutive chunks per job.</summary>
        public int PartChunks;

        /// <summary>Prefill: consecutive rows per tile.</summary>
        public int TileRows;

        private readonly int Rep => shape.QueriesPerKvHead;

        /// <summary>
        /// Per chunk and group: each query head's maximum and sum of exp, then its weighted values. A row's running
        /// state over the chunks folded so far has the same layout.
        /// </summary>
        public readonly int PartialFloats => Rep * (2 + shape.VHeadDim);

        private readonly int Position(int row) => seg.StartPosition + row;

        /// <summary>The row's first visible key (its window's start; keys a late-joining cache skipped are never visible).</summary>
        public readonly int FirstKey(int row) => window > 0 ? Math.Max(cache.SkippedBelow, Position(row) - window + 1) : 0;

        public readonly int FirstChunk(int row) => FirstKey(row) / ChunkKeys;

        public readonly int LastChunk(int row) => Position(row) / ChunkKeys;

        public readonly void Run(int job)
        {
            if (Shared is null)
            {
                Tile(job / shape.NumKvHeads, job % shape.NumKvHeads);
                return;
            }
            int groups = shape.NumKvHeads, f = PartialFloats;
            int parts = (MaxChunks + PartChunks - 1) / PartChunks, rowGroup = job / parts, first = job % parts * PartChunks;
            int r = rowGroup / groups, g = rowGroup % groups, last = Math.Min(first + PartChunks, LastChunk(r) - FirstChunk(r) + 1) - 1;
            for (int index = first; index <= last; index++)
                Chunk(r, g, FirstChunk(r) + index, Shared.AsSpan((rowGroup * MaxChunks + index) * f, f), widened: false, fetchNext: index < last);
        }

        /// <summary>
        /// Prefill: a tile of consecutive rows × one KV head. The tile walks its chunks once in order; each chunk
        /// serves every row that sees it (a 16-bit cache's chunk is widened once for all of them), and each row
        /// folds the chunk's result into its running state at once, so the tile holds one chunk's result and a
        /// state per row, never a row's chunks side by side. The keys and values of a chunk (160 KB for the default
        /// model's global layer, 655 KB at MiMo-V2-Flash's widths) stay in the 1 MB L2 from the first row to the
        /// last, so memory is read once per tile, not once per row.
        /// </summary>
        private readonly void Tile(int tile, int group)
        {
            int f = PartialFloats, r0 = tile * TileRows, r1 = Math.Min(r0 + TileRows, seg.Length) - 1;
            float[] states = Scratch(ref t_states, (r1 - r0 + 1) * f), partial = Scratch(ref t_partial, f);
            for (int r = r0; r <= r1; r++) Start(group, states.AsSpan((r - r0) * f, f));
            for (int c = FirstChunk(r0); c <= LastChunk(r1); c++)
            {
                // The rows that see chunk c: first and last chunks grow with the row.
                int ra = r0, rb = r1;
                while (LastChunk(ra) < c) ra++;
                while (FirstChunk(rb) > c) rb--;
                bool widened = false;
                int from = Math.Max(c * ChunkKeys, FirstKey(ra)), to = Math.Min(Math.Min(c * ChunkKeys + ChunkKeys - 1, Position(rb)), seg.StartPosition - 1);
                if (cache.HalfFormat is not null && from <= to)
                {
                    cache.CheckHeld(from);
                    cache.CheckHeld(to);
                    Widen(group, c, from, to);
                    widened = true;
                }
                for (int r = ra; r <= rb; r++)
                {
                    // The last row's pass over the values fetches the next chunk's keys.
                    Chunk(r, group, c, partial.AsSpan(0, f), widened, fetchNext: r == rb && c < LastChunk(r));
                    Fold(states.AsSpan((r - r0) * f, f), partial.AsSpan(0, f));
                }
            }
            for (int r = r0; r <= r1; r++) Finish(r, group, states.AsSpan((r - r0) * f, f));
        }

        /// <summary>
        /// A 16-bit cache: the group's cached keys and values of positions <paramref name="from"/>..<paramref name="to"/>
        /// of a chunk widened into float32 scratch at their place in the chunk (the bytes from memory are halved; the
        /// arithmetic is the float32 kernel's on the same numbers). The caller has checked the range.
        /// </summary>
        private readonly void Widen(int group, int chunk, int from, int to)
        {
            int hd = shape.HeadDim, vd = shape.VHeadDim, c0 = chunk * ChunkKeys;
            var format = cache.HalfFormat!.Value;
            float[] wideKeys = Scratch(ref t_wideKeys, ChunkKeys * hd), wideValues = Scratch(ref t_wideValues, ChunkKeys * vd);
            for (int j = from; j <= to; j++)
            {
                HalfFloats.Decode(ref Unsafe.Add(ref cache.KeyRef16(j), group * hd), ref wideKeys[(j - c0) * hd], hd, format);
                HalfFloats.Decode(ref Unsafe.Add(ref cache.ValueRef16(j), group * vd), ref wideValues[(j - c0) * vd], vd, format);
            }
        }

        /// <summary>
        /// One chunk of keys for the query heads of one KV head: each head's max, sum of exp and weighted values. The
        /// heads are the lanes: a group's heads in blocks of <see cref="Lanes"/> (the last padded with zero queries),
        /// so one load of a key or value serves every head of the block, scores need no horizontal adds, and the
        /// softmax's max and sums run down the keys lane by lane. While the scores are computed the chunk's values are
        /// fetched into cache, and while the values are summed the next chunk's cached keys (when
        /// <paramref name="fetchNext"/>), so memory is read while the arithmetic runs. A 16-bit cache's keys and
        /// values come from the widened copy in scratch, made here unless the caller has <paramref name="widened"/> them. Every lane is its own chain of
        /// operations in key order, so a head's bits depend neither on the vector width nor on how the keys are cut
        /// into runs or blocks.
        /// </summary>
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        private readonly void Chunk(int row, int group, int chunk, Span<float> partial, bool widened, bool fetchNext)
        {
            int hd = shape.HeadDim, vd = shape.VHeadDim, rep = Rep, heads = shape.NumHeads;
            int p = Position(row), c0 = chunk * ChunkKeys, j0 = Math.Max(FirstKey(row), c0), j1 = Math.Min(p, c0 + ChunkKeys - 1);
            int t = seg.FirstRow + row;
            int cached = Math.Min(j1, seg.StartPosition - 1) - j0 + 1;   // keys read from the cache (the rest are this pass's)
            if (cached > 0)
            {
                // The cache's range checked once per chunk (the loops below read it unchecked).
                cache.CheckHeld(j0);
                cache.CheckHeld(j0 + cached - 1);
            }
            // A 16-bit cache reads the chunk's cached keys and values from their widened copy (the tile's, or made here).
            float[]? wideKeys = null, wideValues = null;
            if (cached > 0 && cache.HalfFormat is not null)
            {
                if (!widened) Widen(group, chunk, j0, j0 + cached - 1);
                wideKeys = t_wideKeys;
                wideValues = t_wideValues;
            }
            // Runs of positions whose keys and values lie at a fixed stride: the cache up to its ring's end or
            // the pass's first row, the rest of the ring, then this pass's rows (at most three: a row sees at
            // most a window of a ring, which wraps at most once).
            Span<int> runs = stackalloc int[8];
            int runCount = 0;
            for (int j = j0; j <= j1;)
            {
                int end = j < seg.StartPosition ? Math.Min(j1, Math.Min(seg.StartPosition - 1, j + cache.ContiguousFrom(j) - 1)) : j1;
                runs[runCount++] = j;
                runs[runCount++] = end;
                j = end + 1;
            }
            // Scores by key (slot j − c0), one lane per head; the sums of exp take the keys in aligned quads, so
            // the slots a quad covers outside the visible keys hold −∞ (whose exp is exactly 0).
            float[] scores = Scratch(ref t_scores, ChunkKeys * Lanes), queries = Scratch(ref t_queries, hd * Lanes);
            int a0 = j0 & ~3, a1 = j1 | 3;
            var minusInfinity = Vector256.Create(float.NegativeInfinity);
            ref float s0 = ref scores[0];
            Span<float> sums = stackalloc float[16 * Lanes];
            for (int b = 0; b < rep; b += Lanes)
            {
                for (int j = a0; j < j0; j++) minusInfinity.StoreUnsafe(ref scores[(j - c0) * Lanes]);
                for (int j = j1 + 1; j <= a1; j++) minusInfinity.StoreUnsafe(ref scores[(j - c0) * Lanes]);
                int n = Math.Min(Lanes, rep - b);
                // The block's queries transposed: row d holds each head's d-th element (0 in the padding lanes).
                int q0 = t * heads * hd + (group * rep + b) * hd;
                for (int d = 0; d < hd; d++)
                    for (int l = 0; l < Lanes; l++)
                        queries[d * Lanes + l] = l < n ? q[q0 + l * hd + d] : 0f;
                var max = minusInfinity;
                for (int r = 0; r < runCount; r += 2)
                {
                    ref float keys = ref KeysOfRun(runs[r], group, c0, wideKeys, out int ks);
                    ref float values = ref ValuesOfRun(runs[r], group, c0, wideValues, out int vs);
                    int j = runs[r], end = runs[r + 1];
                    for (; j + 15 <= end; j += 16)
                    {
                        if (b == 0) Prefetch(ref Unsafe.Add(ref values, (j - runs[r]) * vs), vs, vd, 16);
                        Scores16(ref queries[0], ref Unsafe.Add(ref keys, (j - runs[r]) * ks), ks, hd, ref Unsafe.Add(ref s0, (j - c0) * Lanes), scoreScale, ref max);
                    }
                    for (; j + 7 <= end; j += 8)
                    {
                        if (b == 0) Prefetch(ref Unsafe.Add(ref values, (j - runs[r]) * vs), vs, vd, 8);
                        Scores8(ref queries[0], ref Unsafe.Add(ref keys, (j - runs[r]) * ks), ks, hd, ref Unsafe.Add(ref s0, (j - c0) * Lanes), scoreScale, ref max);
                    }
                    for (; j <= end; j++)
                        Score(ref queries[0], ref Unsafe.Add(ref keys, (j - runs[r]) * ks), hd, ref Unsafe.Add(ref s0, (j - c0) * Lanes), scoreScale, ref max);
                }
                // s = exp(s − max) in place, summed in four chains by the key's place in its quad, then ((0 + 1) + (2 + 3)).
                Vector256<float> e0 = default, e1 = default, e2 = default, e3 = default;
                for (int j = a0; j <= a1; j += 4)
                {
                    ref float sj = ref Unsafe.Add(ref s0, (j - c0) * Lanes);
                    var x0 = Exp(Vector256.LoadUnsafe(ref sj) - max);
                    var x1 = Exp(Vector256.LoadUnsafe(ref sj, Lanes) - max);
                    var x2 = Exp(Vector256.LoadUnsafe(ref sj, 2 * Lanes) - max);
                    var x3 = Exp(Vector256.LoadUnsafe(ref sj, 3 * Lanes) - max);
                    x0.StoreUnsafe(ref sj);
                    x1.StoreUnsafe(ref sj, Lanes);
                    x2.StoreUnsafe(ref sj, 2 * Lanes);
                    x3.StoreUnsafe(ref sj, 3 * Lanes);
                    e0 += x0;
                    e1 += x1;
                    e2 += x2;
                    e3 += x3;
                }
                var sum = (e0 + e1) + (e2 + e3);
                for (int l = 0; l < n; l++)
                {
                    partial[2 * (b + l)] = max[l];
                    partial[2 * (b + l) + 1] = sum[l];
                }
                // Weighted values, 16 dimensions of every head of the block at a time, held in registers while the
                // chunk's values stream from cache; dimensions past the last 16 one by one, in the same key order.
                var w = partial[(2 * rep + b * vd)..];
                // The next chunk's keys held in a float32 cache, fetched during the first 16 dimensions' pass.
                int fetch = 0, fetchStride = 0;
                ref float nextKeys = ref queries[0];
                if (fetchNext && b + Lanes >= rep && cache.HalfFormat is null)
                {
                    int n0 = c0 + ChunkKeys, n1 = Math.Min(Math.Min(p, n0 + ChunkKeys - 1), seg.StartPosition - 1);
                    if (n1 >= n0)
                    {
                        fetch = Math.Min(n1 - n0 + 1, cache.ContiguousFrom(n0));
                        fetchStride = cache.KeyWidth;
                        nextKeys = ref Unsafe.Add(ref cache.KeyRef(n0), group * hd);
                    }
                }
                int d0 = 0;
                for (; d0 + 16 <= vd; d0 += 16)
                {
                    sums.Clear();
                    for (int r = 0; r < runCount; r += 2)
                    {
                        ref float values = ref Unsafe.Add(ref ValuesOfRun(runs[r], group, c0, wideValues, out int vs), d0);
                        int from = runs[r] - c0;
                        Values16(ref values, vs, ref Unsafe.Add(ref s0, from * Lanes), runs[r + 1] - runs[r] + 1, ref sums[0],
                            ref Unsafe.Add(ref nextKeys, from * fetchStride), fetchStride, hd, fetch - from);
                    }
                    fetch = 0;
                    for (int l = 0; l < n; l++) sums.Slice(16 * l, 16).CopyTo(w.Slice(l * vd + d0, 16));
                }
                for (; d0 < vd; d0++)
                    for (int l = 0; l < n; l++)
                    {
                        float acc = 0;
                        for (int r = 0; r < runCount; r += 2)
                        {
                            ref float values = ref Unsafe.Add(ref ValuesOfRun(runs[r], group, c0, wideValues, out int vs), d0);
                            for (int j = runs[r]; j <= runs[r + 1]; j++)
                                acc = MathF.FusedMultiplyAdd(Unsafe.Add(ref values, (j - runs[r]) * vs), Unsafe.Add(ref s0, (j - c0) * Lanes + l), acc);
                        }
                        w[l * vd + d0] = acc;
                    }
            }
        }

        /// <summary>
        /// sums[head, 0..16] += Σ_j e[j, head] · v[j, 0..16] over <paramref name="count"/> keys <paramref name="stride"/>
        /// floats apart (weights <see cref="Lanes"/> per key), keys in order, for every lane; fetching ahead the first
        /// <paramref name="fetchCount"/> of the rows at <paramref name="fetch"/>, one per key. The sums stay in
        /// registers over the run (no calls in the loop), read and written once.
        /// </summary>
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        private static void Values16(ref float v, int stride, ref float e, int count, ref float sums, ref float fetch, int fetchStride, int fetchWidth, int fetchCount)
        {
            var a0 = Vector256.LoadUnsafe(ref sums, 0); var b0 = Vector256.LoadUnsafe(ref sums, 8);
            var a1 = Vector256.LoadUnsafe(ref sums, 16); var b1 = Vector256.LoadUnsafe(ref sums, 24);
            var a2 = Vector256.LoadUnsafe(ref sums, 32); var b2 = Vector256.LoadUnsafe(ref sums, 40);
            var a3 = Vector256.LoadUnsafe(ref sums, 48); var b3 = Vector256.LoadUnsafe(ref sums, 56);
            var a4 = Vector256.LoadUnsafe(ref sums, 64); var b4 = Vector256.LoadUnsafe(ref sums, 72);
            var a5 = Vector256.LoadUnsafe(ref sums, 80); var b5 = Vector256.LoadUnsafe(ref sums, 88);
            var a6 = Vector256.LoadUnsafe(ref sums, 96); var b6 = Vector256.LoadUnsafe(ref sums, 104);
            var a7 = Vector256.LoadUnsafe(ref sums, 112); var b7 = Vector256.LoadUnsafe(ref sums, 120);
            for (int j = 0; j < count; j++, v = ref Unsafe.Add(ref v, stride), e = ref Unsafe.Add(ref e, Lanes))
            {
                if (j < fetchCount) Prefetch(ref Unsafe.Add(ref fetch, j * fetchStride), fetchStride, fetchWidth, 1);
                var lo = Vector256.LoadUnsafe(ref v);
                var hi = Vector256.LoadUnsafe(ref v, 8);
                var x = Vector256.Create(e);
                a0 = Vector256.FusedMultiplyAdd(lo, x, a0);
                b0 = Vector256.FusedMultiplyAdd(hi, x, b0);
                x = Vector256.Create(Unsafe.Add(ref e, 1));
                a1 = Vector256.FusedMultiplyAdd(lo, x, a1);
                b1 = Vector256.FusedMultiplyAdd(hi, x, b1);
                x = Vector256.Create(Unsafe.Add(ref e, 2));
                a2 = Vector256.FusedMultiplyAdd(lo, x, a2);
                b2 = Vector256.FusedMultiplyAdd(hi, x, b2);
                x = Vector256.Create(Unsafe.Add(ref e, 3));
                a3 = Vector256.FusedMultiplyAdd(lo, x, a3);
                b3 = Vector256.FusedMultiplyAdd(hi, x, b3);
                x = Vector256.Create(Unsafe.Add(ref e, 4));
                a4 = Vector256.FusedMultiplyAdd(lo, x, a4);
                b4 = Vector256.FusedMultiplyAdd(hi, x, b4);
                x = Vector256.Create(Unsafe.Add(ref e, 5));
                a5 = Vector256.FusedMultiplyAdd(lo, x, a5);
                b5 = Vector256.FusedMultiplyAdd(hi, x, b5);
                x = Vector256.Create(Unsafe.Add(ref e, 6));
                a6 = Vector256.FusedMultiplyAdd(lo, x, a6);
                b6 = Vector256.FusedMultiplyAdd(hi, x, b6);
                x = Vector256.Create(Unsafe.Add(ref e, 7));
                a7 = Vector256.FusedMultiplyAdd(lo, x, a7);
                b7 = Vector256.FusedMultiplyAdd(hi, x, b7);
            }
            a0.StoreUnsafe(ref sums, 0); b0.StoreUnsafe(ref sums, 8); a1.StoreUnsafe(ref sums, 16); b1.StoreUnsafe(ref sums, 24);
            a2.StoreUnsafe(ref sums, 32); b2.StoreUnsafe(ref sums, 40); a3.StoreUnsafe(ref sums, 48); b3.StoreUnsafe(ref sums, 56);
            a4.StoreUnsafe(ref sums, 64); b4.StoreUnsafe(ref sums, 72); a5.StoreUnsafe(ref sums, 80); b5.StoreUnsafe(ref sums, 88);
            a6.StoreUnsafe(ref sums, 96); b6.StoreUnsafe(ref sums, 104); a7.StoreUnsafe(ref sums, 112); b7.StoreUnsafe(ref sums, 120);
        }

        /// <summary>
        /// <see cref="Scores8"/> for sixteen keys: twice the independent chains, so the multiply-adds' latency is
        /// hidden behind their throughput (eight chains of 4-cycle multiply-adds at two per cycle only just fill it).
        /// </summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static void Scores16(ref float q, ref float k0, int stride, int n, ref float s, float scale, ref Vector256<float> max)
        {
            Vector256<float> c0 = default, c1 = default, c2 = default, c3 = default, c4 = default, c5 = default, c6 = default, c7 = default;
            Vector256<float> c8 = default, c9 = default, c10 = default, c11 = default, c12 = default, c13 = default, c14 = default, c15 = default;
            int d = 0;
            for (; d + 4 <= n; d += 4)
            {
                var q0 = Vector256.LoadUnsafe(ref q, (nuint)(d * Lanes));
                var q1 = Vector256.LoadUnsafe(ref q, (nuint)((d + 1) * Lanes));
                var q2 = Vector256.LoadUnsafe(ref q, (nuint)((d + 2) * Lanes));
                var q3 = Vector256.LoadUnsafe(ref q, (nuint)((d + 3) * Lanes));
                ref float k = ref Unsafe.Add(ref k0, d);
                c0 = Dims4(ref k, q0, q1, q2, q3, c0);
                c1 = Dims4(ref k = ref Unsafe.Add(ref k, stride), q0, q1, q2, q3, c1);
                c2 = Dims4(ref k = ref Unsafe.Add(ref k, stride), q0, q1, q2, q3, c2);
                c3 = Dims4(ref k = ref Unsafe.Add(ref k, stride), q0, q1, q2, q3, c3);
                c4 = Dims4(ref k = ref Unsafe.Add(ref k, stride), q0, q1, q2, q3, c4);
                c5 = Dims4(ref k = ref Unsafe.Add(ref k, stride), q0, q1, q2, q3, c5);
                c6 = Dims4(ref k = ref Unsafe.Add(ref k, stride), q0, q1, q2, q3, c6);
                c7 = Dims4(ref k = ref Unsafe.Add(ref k, stride), q0, q1, q2, q3, c7);
                c8 = Dims4(ref k = ref Unsafe.Add(ref k, stride), q0, q1, q2, q3, c8);
                c9 = Dims4(ref k = ref Unsafe.Add(ref k, stride), q0, q1, q2, q3, c9);
                c10 = Dims4(ref k = ref Unsafe.Add(ref k, stride), q0, q1, q2, q3, c10);
                c11 = Dims4(ref k = ref Unsafe.Add(ref k, stride), q0, q1, q2, q3, c11);
                c12 = Dims4(ref k = ref Unsafe.Add(ref k, stride), q0, q1, q2, q3, c12);
                c13 = Dims4(ref k = ref Unsafe.Add(ref k, stride), q0, q1, q2, q3, c13);
                c14 = Dims4(ref k = ref Unsafe.Add(ref k, stride), q0, q1, q2, q3, c14);
                c15 = Dims4(ref k = ref Unsafe.Add(ref k, stride), q0, q1, q2, q3, c15);
            }
            if (d < n)
            {
                // Head widths off a multiple of 4: the eight-key kernel on each half gives the same bits.
                Scores8(ref q, ref k0, stride, n, ref s, scale, ref max);
                Scores8(ref q, ref Unsafe.Add(ref k0, 8 * stride), stride, n, ref Unsafe.Add(ref s, 8 * Lanes), scale, ref max);
                return;
            }
            var vs = Vector256.Create(scale);
            c0 *= vs; c1 *= vs; c2 *= vs; c3 *= vs; c4 *= vs; c5 *= vs; c6 *= vs; c7 *= vs;
            c8 *= vs; c9 *= vs; c10 *= vs; c11 *= vs; c12 *= vs; c13 *= vs; c14 *= vs; c15 *= vs;
            c0.StoreUnsafe(ref s); c1.StoreUnsafe(ref s, Lanes); c2.StoreUnsafe(ref s, 2 * Lanes); c3.StoreUnsafe(ref s, 3 * Lanes);
            c4.StoreUnsafe(ref s, 4 * Lanes); c5.StoreUnsafe(ref s, 5 * Lanes); c6.StoreUnsafe(ref s, 6 * Lanes); c7.StoreUnsafe(ref s, 7 * Lanes);
            c8.StoreUnsafe(ref s, 8 * Lanes); c9.StoreUnsafe(ref s, 9 * Lanes); c10.StoreUnsafe(ref s, 10 * Lanes); c11.StoreUnsafe(ref s, 11 * Lanes);
            c12.StoreUnsafe(ref s, 12 * Lanes); c13.StoreUnsafe(ref s, 13 * Lanes); c14.StoreUnsafe(ref s, 14 * Lanes); c15.StoreUnsafe(ref s, 15 * Lanes);
            var m0 = Vector256.MaxNative(Vector256.MaxNative(Vector256.MaxNative(c0, c1), Vector256.MaxNative(c2, c3)), Vector256.MaxNative(Vector256.MaxNative(c4, c5), Vector256.MaxNative(c6, c7)));
            var m1 = Vector256.MaxNative(Vector256.MaxNative(Vector256.MaxNative(c8, c9), Vector256.MaxNative(c10, c11)), Vector256.MaxNative(Vector256.MaxNative(c12, c13), Vector256.MaxNative(c14, c15)));
            max = Vector256.MaxNative(max, Vector256.MaxNative(m0, m1));
        }

        /// <summary>
        /// Scores of eight keys <paramref name="stride"/> floats apart from k0 against the block's transposed queries,
        /// times <paramref name="scale"/>, into s[8 keys × 8 lanes]: per key Σ_d k[d] · q[d, lane] by fused multiply-adds
        /// in order of d, as <see cref="Score"/> computes one key.
        /// </summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static void Scores8(ref float q, ref float k0, int stride, int n, ref float s, float scale, ref Vector256<float> max)
        {
            Vector256<float> c0 = default, c1 = default, c2 = default, c3 = default, c4 = default, c5 = default, c6 = default, c7 = default;
            int d = 0;
            // Four dimensions of the queries held while one pointer walks down the eight keys (eight would not fit
            // the general registers); each key's sum still runs over d in order.
            for (; d + 4 <= n; d += 4)
            {
                var q0 = Vector256.LoadUnsafe(ref q, (nuint)(d * Lanes));
                var q1 = Vector256.LoadUnsafe(ref q, (nuint)((d + 1) * Lanes));
                var q2 = Vector256.LoadUnsafe(ref q, (nuint)((d + 2) * Lanes));
                var q3 = Vector256.LoadUnsafe(ref q, (nuint)((d + 3) * Lanes));
                ref float k = ref Unsafe.Add(ref k0, d);
                c0 = Dims4(ref k, q0, q1, q2, q3, c0);
                c1 = Dims4(ref k = ref Unsafe.Add(ref k, stride), q0, q1, q2, q3, c1);
                c2 = Dims4(ref k = ref Unsafe.Add(ref k, stride), q0, q1, q2, q3, c2);
                c3 = Dims4(ref k = ref Unsafe.Add(ref k, stride), q0, q1, q2, q3, c3);
                c4 = Dims4(ref k = ref Unsafe.Add(ref k, stride), q0, q1, q2, q3, c4);
                c5 = Dims4(ref k = ref Unsafe.Add(ref k, stride), q0, q1, q2, q3, c5);
                c6 = Dims4(ref k = ref Unsafe.Add(ref k, stride), q0, q1, q2, q3, c6);
                c7 = Dims4(ref k = ref Unsafe.Add(ref k, stride), q0, q1, q2, q3, c7);
            }
            for (; d < n; d++)
            {
                var qd = Vector256.LoadUnsafe(ref q, (nuint)(d * Lanes));
                ref float k = ref Unsafe.Add(ref k0, d);
                c0 = Vector256.FusedMultiplyAdd(Vector256.Create(k), qd, c0);
                c1 = Vector256.FusedMultiplyAdd(Vector256.Create(k = ref Unsafe.Add(ref k, stride)), qd, c1);
                c2 = Vector256.FusedMultiplyAdd(Vector256.Create(k = ref Unsafe.Add(ref k, stride)), qd, c2);
                c3 = Vector256.FusedMultiplyAdd(Vector256.Create(k = ref Unsafe.Add(ref k, stride)), qd, c3);
                c4 = Vector256.FusedMultiplyAdd(Vector256.Create(k = ref Unsafe.Add(ref k, stride)), qd, c4);
                c5 = Vector256.FusedMultiplyAdd(Vector256.Create(k = ref Unsafe.Add(ref k, stride)), qd, c5);
                c6 = Vector256.FusedMultiplyAdd(Vector256.Create(k = ref Unsafe.Add(ref k, stride)), qd, c6);
                c7 = Vector256.FusedMultiplyAdd(Vector256.Create(k = ref Unsafe.Add(ref k, stride)), qd, c7);
            }
            var vs = Vector256.Create(scale);
            c0 *= vs; c1 *= vs; c2 *= vs; c3 *= vs; c4 *= vs; c5 *= vs; c6 *= vs; c7 *= vs;
            c0.StoreUnsafe(ref s);
            c1.StoreUnsafe(ref s, Lanes);
            c2.StoreUnsafe(ref s, 2 * Lanes);
            c3.StoreUnsafe(ref s, 3 * Lanes);
            c4.StoreUnsafe(ref s, 4 * Lanes);
            c5.StoreUnsafe(ref s, 5 * Lanes);
            c6.StoreUnsafe(ref s, 6 * Lanes);
            c7.StoreUnsafe(ref s, 7 * Lanes);
            max = Vector256.MaxNative(max, Vector256.MaxNative(Vector256.MaxNative(Vector256.MaxNative(c0, c1), Vector256.MaxNative(c2, c3)), Vector256.MaxNative(Vector256.MaxNative(c4, c5), Vector256.MaxNative(c6, c7))));
        }

        /// <summary>c + k[0]·q0 + k[1]·q1 + k[2]·q2 + k[3]·q3, fused multiply-adds in that order.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static Vector256<float> Dims4(ref float k, Vector256<float> q0, Vector256<float> q1, Vector256<float> q2, Vector256<float> q3, Vector256<float> c)
        {
            c = Vector256.FusedMultiplyAdd(Vector256.Create(k), q0, c);
            c = Vector256.FusedMultiplyAdd(Vector256.Create(Unsafe.Add(ref k, 1)), q1, c);
            c = Vector256.FusedMultiplyAdd(Vector256.Create(Unsafe.Add(ref k, 2)), q2, c);
            return Vector256.FusedMultiplyAdd(Vector256.Create(Unsafe.Add(ref k, 3)), q3, c);
        }

        /// <summary>One key's scores, as <see cref="Scores8"/> computes each of its eight.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static void Score(ref float q, ref float k, int n, ref float s, float scale, ref Vector256<float> max)
        {
            var c = Vector256<float>.Zero;
            for (int d = 0; d < n; d++) c = Vector256.FusedMultiplyAdd(Vector256.Create(Unsafe.Add(ref k, d)), Vector256.LoadUnsafe(ref q, (nuint)(d * Lanes)), c);
            c *= Vector256.Create(scale);
            c.StoreUnsafe(ref s);
            max = Vector256.MaxNative(max, c);
        }

        /// <summary>
        /// Asks for <paramref name="count"/> rows of <paramref name="width"/> floats, <paramref name="stride"/> apart
        /// from r, to be brought into the L2 cache ahead of their use (a hint: nothing is read, nothing can fault).
        /// </summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static unsafe void Prefetch(ref float r, int stride, int width, int count)
        {
            if (!Sse.IsSupported) return;
            byte* p = (byte*)Unsafe.AsPointer(ref r);
            if (stride == width)
            {
                for (int o = 0; o < count * width * sizeof(float); o += 64) Sse.Prefetch1(p + o);
                return;
            }
            for (int i = 0; i < count; i++, p += stride * sizeof(float))
                for (int o = 0; o < width * sizeof(float); o += 64) Sse.Prefetch1(p + o);
        }

        /// <summary>
        /// A row's running state before its first chunk, for the query heads of one KV head: the sink as a key
        /// scored sink[h] with a zero value (maximum sink, sum exp(0) = 1), or no keys at all (maximum −∞, sum 0).
        /// </summary>
        private readonly void Start(int group, Span<float> state)
        {
            int rep = Rep;
            for (int i = 0; i < rep; i++)
            {
                state[2 * i] = sinks is null ? float.NegativeInfinity : sinks[group * rep + i];
                state[2 * i + 1] = sinks is null ? 0f : 1f;
            }
            state[(2 * rep)..].Clear();
        }

        /// <summary>
        /// state ⊕= one chunk's result, exactly as a softmax over both: the larger maximum stays, and the side with the
        /// smaller one (its sum and weighted values) is scaled by exp(its maximum − the larger) before the two are
        /// added. Every path folds a row's chunks in chunk order with this, so the bits are the same whether the
        /// chunks came from a prefill tile or from decoding jobs.
        /// </summary>
        private readonly void Fold(Span<float> state, ReadOnlySpan<float> partial)
        {
            int rep = Rep, vd = shape.VHeadDim;
            for (int i = 0; i < rep; i++)
            {
                float m = state[2 * i], mc = partial[2 * i];
                var weighted = state.Slice(2 * rep + i * vd, vd);
                var chunk = partial.Slice(2 * rep + i * vd, vd);
                if (mc <= m)
                {
                    float b = MathF.Exp(mc - m);
                    state[2 * i + 1] = MathF.FusedMultiplyAdd(partial[2 * i + 1], b, state[2 * i + 1]);
                    VectorMath.MultiplyAdd(chunk, b, weighted);
                }
                else
                {
                    float a = MathF.Exp(m - mc);   // 0 for a state that has seen nothing yet (m = −∞)
                    state[2 * i] = mc;
                    state[2 * i + 1] = state[2 * i + 1] * a + partial[2 * i + 1];
                    VectorMath.Scale(weighted, a);
                    VectorMath.Add(chunk, weighted);
                }
            }
        }

        /// <summary>o[row, head] = the state's weighted values over its sum, for the query heads of one KV head.</summary>
        private readonly void Finish(int row, int group, ReadOnlySpan<float> state)
        {
            int vd = shape.VHeadDim, rep = Rep, ow = shape.NumHeads * vd, t = seg.FirstRow + row;
            for (int i = 0; i < rep; i++)
            {
                var oh = new Span<float>(o, t * ow + (group * rep + i) * vd, vd);
                state.Slice(2 * rep + i * vd, vd).CopyTo(oh);
                VectorMath.Scale(oh, 1f / state[2 * i + 1]);
            }
        }

        /// <summary>Decoding: folds a row's chunk results (consecutive in <paramref name="partials"/>, first chunk first) into o.</summary>
        public readonly void Merge(int row, int group, ReadOnlySpan<float> partials)
        {
            int f = PartialFloats, chunks = LastChunk(row) - FirstChunk(row) + 1;
            var state = Scratch(ref t_states, f).AsSpan(0, f);
            Start(group, state);
            for (int c = 0; c < chunks; c++) Fold(state, partials.Slice(c * f, f));
            Finish(row, group, state);
        }

        /// <summary>
        /// The first float of the group's key (or value) at a run's first position, and the stride from one position to
        /// the next: this pass's rows from k (v), a float32 cache in place, a 16-bit cache from the chunk's widened
        /// copy (whose first slot is the chunk's first position, <paramref name="c0"/>). Unchecked.
        /// </summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private readonly ref float RunStart(bool values, int position, int group, int c0, float[]? wide, out int stride)
        {
            int width = values ? shape.VHeadDim : shape.HeadDim;
            if (wide is not null && position < seg.StartPosition)
            {
                stride = width;
                return ref wide[(position - c0) * width];
            }
            stride = shape.NumKvHeads * width;
            if (position >= seg.StartPosition)
                return ref (values ? v : k)[(seg.FirstRow + position - seg.StartPosition) * stride + group * width];
            return ref Unsafe.Add(ref values ? ref cache.ValueRef(position) : ref cache.KeyRef(position), group * width);
        }

        private readonly ref float KeysOfRun(int position, int group, int c0, float[]? wide, out int stride) =>
            ref RunStart(values: false, position, group, c0, wide, out stride);

        private readonly ref float ValuesOfRun(int position, int group, int c0, float[]? wide, out int stride) =>
            ref RunStart(values: true, position, group, c0, wide, out stride);
    }
}

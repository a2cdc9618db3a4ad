using System.Buffers;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using MimoSharp.Config;
using MimoSharp.Inference;
using MimoSharp.Tensors;

namespace MimoSharp.Model;

/// <summary>
/// The softmax part of grouped-query attention (spec §3) for one segment's query rows, read the way the bytes
/// want it (flash-decoding): one pass over a KV head's keys and values serves every query head of its group, and
/// the keys are cut at fixed absolute positions into chunks of <see cref="ChunkKeys"/>, each with its own running
/// maximum, sum and weighted values, merged exactly at the end (the sink joins at the merge). Chunks are
/// independent jobs when the step has few rows (decoding a long context splits over the cores along the
/// sequence); with many rows, a job takes all chunks of one row and KV head. The chunk bounds depend only on
/// positions, so a row's result is the same however the sequence was split into passes or batched.
/// </summary>
internal static class ChunkedAttention
{
    /// <summary>Keys per chunk: a group's scores for one chunk (8 heads × 512) fit in L1.</summary>
    public const int ChunkKeys = 512;

    /// <summary>
    /// o[row, head] = softmax over the row's visible keys (with the head's sink) of q·k·scale, times v; q, k, v and o
    /// are this pass's rows (k, v of earlier positions come from <paramref name="cache"/>).
    /// </summary>
    public static void Run(AttentionShape shape, int window, float scoreScale, float[]? sinks,
        float[] q, float[] k, float[] v, float[] o, BatchLayout.Segment seg, LayerKvCache cache)
    {
        var job = new Job(shape, window, scoreScale, sinks, q, k, v, o, seg, cache);
        int rows = seg.Length, groups = shape.NumKvHeads;
        int maxChunks = 0;
        for (int r = 0; r < rows; r++) maxChunks = Math.Max(maxChunks, job.LastChunk(r) - job.FirstChunk(r) + 1);
        long work = (long)rows * shape.NumHeads * Math.Min(seg.StartPosition + rows, maxChunks * ChunkKeys) * (shape.HeadDim + shape.VHeadDim);
        bool parallel = work >= 1 << 15;
        if (maxChunks == 1 || rows * groups >= 2 * ComputePool.Threads)
        {
            // Each (row, group) job runs its chunks in order and merges them.
            if (parallel) ComputePool.For(rows * groups, ref job);
            else for (int j = 0; j < rows * groups; j++) job.Run(j);
            return;
        }
        // Decoding a long context: the chunks of the sequence are the parallel jobs, merged after.
        float[] partials = ArrayPool<float>.Shared.Rent(rows * groups * maxChunks * job.PartialFloats);
        try
        {
            job.Shared = partials;
            job.MaxChunks = maxChunks;
            if (parallel) ComputePool.For(rows * groups * maxChunks, ref job);
            else for (int j = 0; j < rows * groups * maxChunks; j++) job.Run(j);
            for (int j = 0; j < rows * groups; j++)
                job.Merge(j / groups, j % groups, partials.AsSpan(j * maxChunks * job.PartialFloats, maxChunks * job.PartialFloats));
        }
        finally
        {
            ArrayPool<float>.Shared.Return(partials);
        }
    }

    private struct Job(AttentionShape shape, int window, float scoreScale, float[]? sinks,
        float[] q, float[] k, float[] v, float[] o, BatchLayout.Segment seg, LayerKvCache cache) : IParallelBody
    {
        /// <summary>Decoding only: every (row, group)'s chunk results, <see cref="MaxChunks"/> each; null = one job per (row, group).</summary>
        public float[]? Shared;
        public int MaxChunks;

        private readonly int Rep => shape.QueriesPerKvHead;

        /// <summary>Per chunk and group: each query head's maximum, sum and weighted values.</summary>
        public readonly int PartialFloats => Rep * (2 + shape.VHeadDim);

        private readonly int Position(int row) => seg.StartPosition + row;

        /// <summary>The row's first visible key (its window's start; keys a late-joining cache skipped are never visible).</summary>
        public readonly int FirstKey(int row) => window > 0 ? Math.Max(cache.SkippedBelow, Position(row) - window + 1) : 0;

        public readonly int FirstChunk(int row) => FirstKey(row) / ChunkKeys;

        public readonly int LastChunk(int row) => Position(row) / ChunkKeys;

        public readonly void Run(int job)
        {
            int groups = shape.NumKvHeads, f = PartialFloats;
            if (Shared is null)
            {
                int row = job / groups, group = job % groups, c0 = FirstChunk(row), chunks = LastChunk(row) - c0 + 1;
                float[] local = ArrayPool<float>.Shared.Rent(chunks * f);
                try
                {
                    for (int c = 0; c < chunks; c++) Chunk(row, group, c0 + c, local.AsSpan(c * f, f));
                    Merge(row, group, local.AsSpan(0, chunks * f));
                }
                finally
                {
                    ArrayPool<float>.Shared.Return(local);
                }
                return;
            }
            int rowGroup = job / MaxChunks, index = job % MaxChunks;
            int r = rowGroup / groups, g = rowGroup % groups, chunk = FirstChunk(r) + index;
            if (chunk <= LastChunk(r)) Chunk(r, g, chunk, Shared.AsSpan((rowGroup * MaxChunks + index) * f, f));
        }

        /// <summary>One chunk of keys for the query heads of one KV head: each head's max, sum of exp and weighted values.</summary>
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        private readonly void Chunk(int row, int group, int chunk, Span<float> partial)
        {
            int hd = shape.HeadDim, vd = shape.VHeadDim, rep = Rep, heads = shape.NumHeads;
            int p = Position(row), j0 = Math.Max(FirstKey(row), chunk * ChunkKeys), j1 = Math.Min(p, chunk * ChunkKeys + ChunkKeys - 1);
            int count = j1 - j0 + 1, t = seg.FirstRow + row;
            float[] scores = ArrayPool<float>.Shared.Rent(rep * ChunkKeys);
            try
            {
                // Scores: each key row read once for the group's query heads.
                for (int j = j0; j <= j1; j++)
                {
                    var key = KeyAt(j).Slice(group * hd, hd);
                    for (int i = 0; i < rep; i++)
                        scores[i * ChunkKeys + j - j0] = VectorMath.Dot(new ReadOnlySpan<float>(q, t * heads * hd + (group * rep + i) * hd, hd), key) * scoreScale;
                }
                for (int i = 0; i < rep; i++)
                {
                    var s = scores.AsSpan(i * ChunkKeys, count);
                    float m = VectorMath.Max(s);
                    partial[2 * i] = m;
                    partial[2 * i + 1] = ExpSum(s, m);
                }
                // Weighted values: each value row read once for the group's query heads.
                var weighted = partial[(2 * rep)..];
                weighted.Clear();
                for (int j = j0; j <= j1; j++)
                {
                    var value = ValueAt(j).Slice(group * vd, vd);
                    for (int i = 0; i < rep; i++)
                        VectorMath.MultiplyAdd(value, scores[i * ChunkKeys + j - j0], weighted.Slice(i * vd, vd));
                }
            }
            finally
            {
                ArrayPool<float>.Shared.Return(scores);
            }
        }

        /// <summary>s = exp(s − m) in place; returns their sum (in order).</summary>
        private static float ExpSum(Span<float> s, float m)
        {
            int i = 0;
            var vm = Vector256.Create(m);
            for (; i <= s.Length - 8; i += 8)
            {
                var e = Vector256.Exp(Vector256.LoadUnsafe(ref MemoryMarshal.GetReference(s), (nuint)i) - vm);
                e.StoreUnsafe(ref MemoryMarshal.GetReference(s), (nuint)i);
            }
            if (i < s.Length)
            {
                // The tail through the same vector exp (never the scalar one), so that every key gets the same function.
                Span<float> tail = stackalloc float[8];
                tail.Fill(m);
                s[i..].CopyTo(tail);
                (Vector256.Exp(Vector256.Create((ReadOnlySpan<float>)tail) - vm)).CopyTo(tail);
                tail[..(s.Length - i)].CopyTo(s[i..]);
            }
            float sum = 0;
            foreach (float e in s) sum += e;
            return sum;
        }

        /// <summary>
        /// Joins a row's chunks (their results consecutive in <paramref name="partials"/>, first chunk first) for the
        /// query heads of one KV head, with each head's sink, into o.
        /// </summary>
        public readonly void Merge(int row, int group, ReadOnlySpan<float> partials)
        {
            int vd = shape.VHeadDim, rep = Rep, t = seg.FirstRow + row, ow = shape.NumHeads * vd, f = PartialFloats;
            int chunks = LastChunk(row) - FirstChunk(row) + 1;
            for (int i = 0; i < rep; i++)
            {
                int h = group * rep + i;
                float sink = sinks is null ? float.NegativeInfinity : sinks[h];
                float m = sink;
                for (int c = 0; c < chunks; c++) m = Math.Max(m, partials[c * f + 2 * i]);
                var oh = new Span<float>(o, t * ow + h * vd, vd);
                oh.Clear();
                float denom = 0;
                for (int c = 0; c < chunks; c++)
                {
                    var partial = partials.Slice(c * f, f);
                    float w = MathF.Exp(partial[2 * i] - m);
                    denom += w * partial[2 * i + 1];
                    VectorMath.MultiplyAdd(partial.Slice(2 * rep + i * vd, vd), w, oh);
                }
                if (sinks is not null) denom += MathF.Exp(sink - m);
                VectorMath.Scale(oh, 1f / denom);
            }
        }

        private readonly ReadOnlySpan<float> KeyAt(int position) =>
            position < seg.StartPosition
                ? cache.Key(position)
                : new ReadOnlySpan<float>(k, (seg.FirstRow + position - seg.StartPosition) * shape.NumKvHeads * shape.HeadDim, shape.NumKvHeads * shape.HeadDim);

        private readonly ReadOnlySpan<float> ValueAt(int position) =>
            position < seg.StartPosition
                ? cache.Value(position)
                : new ReadOnlySpan<float>(v, (seg.FirstRow + position - seg.StartPosition) * shape.NumKvHeads * shape.VHeadDim, shape.NumKvHeads * shape.VHeadDim);
    }
}

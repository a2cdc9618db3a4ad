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
        if (maxChunks == 1 || rows * groups >= 2 * ComputePool.CurrentThreads)
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
            int cached = Math.Min(j1, seg.StartPosition - 1) - j0 + 1;   // keys read from the cache (the rest are this pass's)
            if (cached > 0)
            {
                // The cache's range checked once per chunk (the loops below read it unchecked).
                cache.CheckHeld(j0);
                cache.CheckHeld(j0 + cached - 1);
            }
            float[] scores = ArrayPool<float>.Shared.Rent(rep * ChunkKeys);
            // A 16-bit cache: the chunk's cached keys and values of this group widened once into float32 scratch,
            // which the group's heads then read from L2 (the bytes from memory are halved; the arithmetic is the
            // float32 kernels' on the same numbers).
            float[]? wideKeys = null, wideValues = null;
            try
            {
                if (cached > 0 && cache.HalfFormat is HalfFormat format)
                {
                    wideKeys = ArrayPool<float>.Shared.Rent(cached * hd);
                    wideValues = ArrayPool<float>.Shared.Rent(cached * vd);
                    for (int j = j0; j < j0 + cached; j++)
                    {
                        HalfFloats.Decode(ref Unsafe.Add(ref cache.KeyRef16(j), group * hd), ref wideKeys[(j - j0) * hd], hd, format);
                        HalfFloats.Decode(ref Unsafe.Add(ref cache.ValueRef16(j), group * vd), ref wideValues[(j - j0) * vd], vd, format);
                    }
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
                // Scores, head by head over the chunk's keys: the chunk is read from memory once (for the first
                // head) and from cache for the group's other heads.
                for (int i = 0; i < rep; i++)
                {
                    ref float qi = ref q[t * heads * hd + (group * rep + i) * hd];
                    ref float si = ref scores[i * ChunkKeys];
                    for (int r = 0; r < runCount; r += 2)
                    {
                        ref float keys = ref KeysOfRun(runs[r], group, j0, wideKeys, out int ks);
                        int j = runs[r], end = runs[r + 1];
                        for (; j + 7 <= end; j += 8)
                            Dot8(ref qi, ref Unsafe.Add(ref keys, (j - runs[r]) * ks), ks, hd, ref Unsafe.Add(ref si, j - j0), scoreScale);
                        for (; j <= end; j++)
                            Unsafe.Add(ref si, j - j0) = Dot(ref qi, ref Unsafe.Add(ref keys, (j - runs[r]) * ks), hd) * scoreScale;
                    }
                }
                for (int i = 0; i < rep; i++)
                {
                    var s = scores.AsSpan(i * ChunkKeys, count);
                    float m = MaxOf(s);
                    partial[2 * i] = m;
                    partial[2 * i + 1] = ExpSum(s, m);
                }
                // Weighted values, head by head, 32 dimensions at a time held in registers while the chunk's values
                // stream from cache.
                for (int i = 0; i < rep; i++)
                {
                    ref float w = ref partial[2 * rep + i * vd];
                    ref float si = ref scores[i * ChunkKeys];
                    int d = 0;
                    for (; d + 32 <= vd; d += 32)
                    {
                        // Two sets of sums, for even and for odd positions (absolute, so passes and runs do not
                        // change which set a key joins), halve the multiply-add chains; then even + odd.
                        Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default;
                        Vector256<float> b0 = default, b1 = default, b2 = default, b3 = default;
                        for (int r = 0; r < runCount; r += 2)
                        {
                            ref float values = ref Unsafe.Add(ref ValuesOfRun(runs[r], group, j0, wideValues, out int vs), d);
                            int j = runs[r], end = runs[r + 1];
                            if ((j & 1) == 1)
                            {
                                Accumulate(ref values, Unsafe.Add(ref si, j - j0), ref b0, ref b1, ref b2, ref b3);
                                j++;
                            }
                            for (; j + 1 <= end; j += 2)
                            {
                                ref float vj = ref Unsafe.Add(ref values, (j - runs[r]) * vs);
                                Accumulate(ref vj, Unsafe.Add(ref si, j - j0), ref a0, ref a1, ref a2, ref a3);
                                Accumulate(ref Unsafe.Add(ref vj, vs), Unsafe.Add(ref si, j + 1 - j0), ref b0, ref b1, ref b2, ref b3);
                            }
                            if (j <= end) Accumulate(ref Unsafe.Add(ref values, (j - runs[r]) * vs), Unsafe.Add(ref si, j - j0), ref a0, ref a1, ref a2, ref a3);
                        }
                        (a0 + b0).StoreUnsafe(ref w, (nuint)d);
                        (a1 + b1).StoreUnsafe(ref w, (nuint)(d + 8));
                        (a2 + b2).StoreUnsafe(ref w, (nuint)(d + 16));
                        (a3 + b3).StoreUnsafe(ref w, (nuint)(d + 24));
                    }
                    for (; d < vd; d++) // value widths that are not a multiple of 32: the last columns, even + odd likewise
                    {
                        float even = 0, odd = 0;
                        for (int r = 0; r < runCount; r += 2)
                        {
                            ref float values = ref Unsafe.Add(ref ValuesOfRun(runs[r], group, j0, wideValues, out int vs), d);
                            for (int j = runs[r]; j <= runs[r + 1]; j++)
                            {
                                float term = Unsafe.Add(ref values, (j - runs[r]) * vs);
                                if ((j & 1) == 0) even = MathF.FusedMultiplyAdd(term, Unsafe.Add(ref si, j - j0), even);
                                else odd = MathF.FusedMultiplyAdd(term, Unsafe.Add(ref si, j - j0), odd);
                            }
                        }
                        Unsafe.Add(ref w, d) = even + odd;
                    }
                }
            }
            finally
            {
                ArrayPool<float>.Shared.Return(scores);
                if (wideKeys is not null) ArrayPool<float>.Shared.Return(wideKeys);
                if (wideValues is not null) ArrayPool<float>.Shared.Return(wideValues);
            }
        }

        /// <summary>
        /// a·b over n floats: 8 lanes by fused multiply-add over the whole multiples of 8, the lanes added as
        /// ((l0 + l1) + (l2 + l3)) + ((l4 + l5) + (l6 + l7)), then the rest in order by fused multiply-add.
        /// </summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static float Dot(ref float a, ref float b, int n)
        {
            var acc = Vector256<float>.Zero;
            int d = 0;
            for (; d <= n - 8; d += 8)
                acc = Vector256.FusedMultiplyAdd(Vector256.LoadUnsafe(ref a, (nuint)d), Vector256.LoadUnsafe(ref b, (nuint)d), acc);
            float sum = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
            for (; d < n; d++) sum = MathF.FusedMultiplyAdd(Unsafe.Add(ref a, d), Unsafe.Add(ref b, d), sum);
            return sum;
        }

        /// <summary>
        /// <see cref="Dot"/> of q against eight keys <paramref name="stride"/> floats apart from k0, times
        /// <paramref name="scale"/>, into s[0..8]: eight independent chains, their lanes added by horizontal adds
        /// in the same tree as <see cref="Dot"/>.
        /// </summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static void Dot8(ref float q, ref float k0, int stride, int n, ref float s, float scale)
        {
            ref float k1 = ref Unsafe.Add(ref k0, stride), k2 = ref Unsafe.Add(ref k0, 2 * stride), k3 = ref Unsafe.Add(ref k0, 3 * stride);
            ref float k4 = ref Unsafe.Add(ref k0, 4 * stride), k5 = ref Unsafe.Add(ref k0, 5 * stride), k6 = ref Unsafe.Add(ref k0, 6 * stride);
            ref float k7 = ref Unsafe.Add(ref k0, 7 * stride);
            Vector256<float> c0 = default, c1 = default, c2 = default, c3 = default, c4 = default, c5 = default, c6 = default, c7 = default;
            int d = 0;
            for (; d <= n - 8; d += 8)
            {
                var qd = Vector256.LoadUnsafe(ref q, (nuint)d);
                c0 = Vector256.FusedMultiplyAdd(qd, Vector256.LoadUnsafe(ref k0, (nuint)d), c0);
                c1 = Vector256.FusedMultiplyAdd(qd, Vector256.LoadUnsafe(ref k1, (nuint)d), c1);
                c2 = Vector256.FusedMultiplyAdd(qd, Vector256.LoadUnsafe(ref k2, (nuint)d), c2);
                c3 = Vector256.FusedMultiplyAdd(qd, Vector256.LoadUnsafe(ref k3, (nuint)d), c3);
                c4 = Vector256.FusedMultiplyAdd(qd, Vector256.LoadUnsafe(ref k4, (nuint)d), c4);
                c5 = Vector256.FusedMultiplyAdd(qd, Vector256.LoadUnsafe(ref k5, (nuint)d), c5);
                c6 = Vector256.FusedMultiplyAdd(qd, Vector256.LoadUnsafe(ref k6, (nuint)d), c6);
                c7 = Vector256.FusedMultiplyAdd(qd, Vector256.LoadUnsafe(ref k7, (nuint)d), c7);
            }
            Vector256<float> sums;
            if (Avx.IsSupported)
            {
                // hadd(x, y) = [x0+x1, x2+x3, y0+y1, y2+y3 | x4+x5, x6+x7, y4+y5, y6+y7]; two levels, then the halves.
                var g0 = Avx.HorizontalAdd(Avx.HorizontalAdd(c0, c1), Avx.HorizontalAdd(c2, c3));
                var g1 = Avx.HorizontalAdd(Avx.HorizontalAdd(c4, c5), Avx.HorizontalAdd(c6, c7));
                sums = Avx.Permute2x128(g0, g1, 0x20) + Avx.Permute2x128(g0, g1, 0x31);
            }
            else
            {
                static float Tree(Vector256<float> c) => ((c[0] + c[1]) + (c[2] + c[3])) + ((c[4] + c[5]) + (c[6] + c[7]));
                sums = Vector256.Create(Tree(c0), Tree(c1), Tree(c2), Tree(c3), Tree(c4), Tree(c5), Tree(c6), Tree(c7));
            }
            if (d < n)
            {
                Span<float> rest = stackalloc float[8];
                sums.CopyTo(rest);
                for (int i = 0; i < 8; i++)
                {
                    ref float k = ref Unsafe.Add(ref k0, i * stride);
                    for (int e = d; e < n; e++) rest[i] = MathF.FusedMultiplyAdd(Unsafe.Add(ref q, e), Unsafe.Add(ref k, e), rest[i]);
                }
                sums = Vector256.Create((ReadOnlySpan<float>)rest);
            }
            (sums * scale).StoreUnsafe(ref s);
        }

        /// <summary>a0..a3 += v[0..32] · e.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static void Accumulate(ref float v, float e, ref Vector256<float> a0, ref Vector256<float> a1, ref Vector256<float> a2, ref Vector256<float> a3)
        {
            var ve = Vector256.Create(e);
            a0 = Vector256.FusedMultiplyAdd(Vector256.LoadUnsafe(ref v), ve, a0);
            a1 = Vector256.FusedMultiplyAdd(Vector256.LoadUnsafe(ref v, 8), ve, a1);
            a2 = Vector256.FusedMultiplyAdd(Vector256.LoadUnsafe(ref v, 16), ve, a2);
            a3 = Vector256.FusedMultiplyAdd(Vector256.LoadUnsafe(ref v, 24), ve, a3);
        }

        /// <summary>The largest of s (any order gives the same maximum).</summary>
        private static float MaxOf(ReadOnlySpan<float> s)
        {
            ref float p = ref MemoryMarshal.GetReference(s);
            var m = Vector256.Create(float.NegativeInfinity);
            int i = 0;
            for (; i <= s.Length - 8; i += 8) m = Vector256.Max(m, Vector256.LoadUnsafe(ref p, (nuint)i));
            float max = float.NegativeInfinity;
            for (int l = 0; l < 8; l++) max = Math.Max(max, m[l]);
            for (; i < s.Length; i++) max = Math.Max(max, s[i]);
            return max;
        }

        /// <summary>
        /// s = exp(s − m) in place, by <see cref="Exp"/> for every element (the tail padded with −∞, whose exp is 0);
        /// returns their sum: 8 lanes in order, then ((l0 + l1) + (l2 + l3)) + ((l4 + l5) + (l6 + l7)).
        /// </summary>
        private static float ExpSum(Span<float> s, float m)
        {
            ref float p = ref MemoryMarshal.GetReference(s);
            var vm = Vector256.Create(m);
            var sum = Vector256<float>.Zero;
            int i = 0;
            for (; i <= s.Length - 8; i += 8)
            {
                var e = Exp(Vector256.LoadUnsafe(ref p, (nuint)i) - vm);
                e.StoreUnsafe(ref p, (nuint)i);
                sum += e;
            }
            if (i < s.Length)
            {
                Span<float> tail = stackalloc float[8];
                tail.Fill(float.NegativeInfinity);
                s[i..].CopyTo(tail);
                var e = Exp(Vector256.Create((ReadOnlySpan<float>)tail) - vm);
                sum += e;
                e.CopyTo(tail);
                tail[..(s.Length - i)].CopyTo(s[i..]);
            }
            return ((sum[0] + sum[1]) + (sum[2] + sum[3])) + ((sum[4] + sum[5]) + (sum[6] + sum[7]));
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

        /// <summary>
        /// The first float of the group's key (or value) at a run's first position, and the stride from one position to
        /// the next: this pass's rows from k (v), a float32 cache in place, a 16-bit cache from the chunk's widened
        /// copy (whose first position is <paramref name="j0"/>). Unchecked.
        /// </summary>
        private readonly ref float RunStart(bool values, int position, int group, int j0, float[]? wide, out int stride)
        {
            int width = values ? shape.VHeadDim : shape.HeadDim;
            if (wide is not null && position < seg.StartPosition)
            {
                stride = width;
                return ref wide[(position - j0) * width];
            }
            stride = shape.NumKvHeads * width;
            if (position >= seg.StartPosition)
                return ref (values ? v : k)[(seg.FirstRow + position - seg.StartPosition) * stride + group * width];
            return ref Unsafe.Add(ref values ? ref cache.ValueRef(position) : ref cache.KeyRef(position), group * width);
        }

        private readonly ref float KeysOfRun(int position, int group, int j0, float[]? wide, out int stride) =>
            ref RunStart(values: false, position, group, j0, wide, out stride);

        private readonly ref float ValuesOfRun(int position, int group, int j0, float[]? wide, out int stride) =>
            ref RunStart(values: true, position, group, j0, wide, out stride);
    }
}

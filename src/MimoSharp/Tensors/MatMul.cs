using System.Buffers;
using System.Runtime.CompilerServices;
using MimoSharp.Checkpoints;

namespace MimoSharp.Tensors;

/// <summary>
/// y[t, r] = W[r, :] · x[t, :] for n input rows. Each output element is one dot product of a decoded
/// weight row with an input row in one fixed order (<see cref="VectorMath.Dot"/>, or a fused kernel with the
/// very same order), so the result for a row never depends on n or on how rows are split across threads.
/// </summary>
public static class MatMul
{
    /// <summary>Threads the kernels may use; defaults to every core.</summary>
    public static int MaxThreads
    {
        get => ComputePool.Threads;
        set => ComputePool.Threads = value;
    }

    /// <summary>Below this many multiply-adds a matrix product runs on the calling thread alone.</summary>
    private const long ParallelThreshold = 1 << 16;

    public static unsafe void Compute(WeightMatrix w, ReadOnlySpan<float> x, int n, Span<float> y)
    {
        if (x.Length < n * w.Cols) throw new ArgumentException($"MatMul {w.Name}: input has {x.Length} values, need {n}x{w.Cols}");
        if (y.Length < n * w.Rows) throw new ArgumentException($"MatMul {w.Name}: output has {y.Length} values, need {n}x{w.Rows}");
        switch (w.Format)
        {
            case WeightFormat.Q8_0:
                PanelCompute(w, x, n, y);
                return;
            case WeightFormat.Q4_K:
                QuantizedCompute<Q4KActivations>(w, x, n, y);
                return;
        }
        float[]? arranged = null;
        if (w.Format == WeightFormat.BF16)
        {
            // Inputs rearranged once; each weight row is then read once for all n inputs.
            arranged = ArrayPool<float>.Shared.Rent(n * w.Cols);
            for (int t = 0; t < n; t++) VectorMath.InterleaveForBf16(x.Slice(t * w.Cols, w.Cols), arranged.AsSpan(t * w.Cols, w.Cols));
            x = arranged.AsSpan(0, n * w.Cols);
        }
        try
        {
            fixed (float* px = x)
            fixed (float* py = y)
            {
                nint xa = (nint)px, ya = (nint)py;
                Split(w, n, (r0, r1) => RowRange(w, xa, ya, n, r0, r1));
            }
        }
        finally
        {
            if (arranged is not null) ArrayPool<float>.Shared.Return(arranged);
        }
    }

    /// <summary>Runs body over blocks of rows: on the calling thread for small products, else several blocks per thread so uneven progress evens out.</summary>
    private static void Split(WeightMatrix w, int n, Action<int, int> body)
    {
        int rows = w.Rows;
        long work = (long)rows * w.Cols * n;
        int threads = work < ParallelThreshold ? 1 : MaxThreads;
        if (threads == 1)
        {
            body(0, rows);
            return;
        }
        int chunks = Math.Min(rows, threads * 8);
        int per = (rows + chunks - 1) / chunks;
        if (per % 2 == 1 && per < rows) per++;   // even blocks keep the two-row kernels paired
        chunks = (rows + per - 1) / per;
        ComputePool.For(chunks, c => body(c * per, Math.Min(rows, (c + 1) * per)));
    }

    /// <summary>
    /// Q8_0 weights in <see cref="Q8_0Panel"/> layout: the n inputs are quantised once, then each panel of 16 rows is
    /// read once for all of them, the panels split over the threads.
    /// </summary>
    private static unsafe void PanelCompute(WeightMatrix w, ReadOnlySpan<float> x, int n, Span<float> y)
    {
        int cols = w.Cols, rows = w.Rows, blocks = Q8_0Panel.Blocks(cols), xBytes = Q8_0Panel.ActivationBytes(cols);
        sbyte[] xq = ArrayPool<sbyte>.Shared.Rent(n * xBytes);
        float[] xs = ArrayPool<float>.Shared.Rent(n * blocks);
        try
        {
            for (int t = 0; t < n; t++)
                Q8_0Panel.QuantizeActivations(x.Slice(t * cols, cols), xq.AsSpan(t * xBytes, xBytes), xs.AsSpan(t * blocks, blocks));
            fixed (sbyte* pq = xq)
            fixed (float* ps = xs)
            fixed (float* py = y)
            {
                nint qa = (nint)pq, sa = (nint)ps, ya = (nint)py;
                int panels = Q8_0Panel.Panels(rows);
                long work = (long)rows * cols * n;
                int threads = work < ParallelThreshold ? 1 : MaxThreads;
                if (threads == 1)
                {
                    PanelRange(w, (sbyte*)qa, (float*)sa, n, (float*)ya, 0, panels);
                    return;
                }
                int chunks = Math.Min(panels, threads * 8), per = (panels + chunks - 1) / chunks;
                chunks = (panels + per - 1) / per;
                ComputePool.For(chunks, c => PanelRange(w, (sbyte*)qa, (float*)sa, n, (float*)ya, c * per, Math.Min(panels, (c + 1) * per)));
            }
        }
        finally
        {
            ArrayPool<sbyte>.Shared.Return(xq);
            ArrayPool<float>.Shared.Return(xs);
        }
    }

    /// <summary>Panels p0..p1 against every input, at most <see cref="PanelInputs"/> inputs at a time.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void PanelRange(WeightMatrix w, sbyte* xq, float* xs, int n, float* y, int p0, int p1)
    {
        int rows = w.Rows, blocks = Q8_0Panel.Blocks(w.Cols), xBytes = Q8_0Panel.ActivationBytes(w.Cols);
        float* tile = stackalloc float[PanelInputs * Q8_0Panel.Rows];
        for (int p = p0; p < p1; p++)
        {
            byte* panel = w.Q8Panels + (long)p * blocks * Q8_0Panel.BlockBytes;
            int r0 = p * Q8_0Panel.Rows, valid = Math.Min(Q8_0Panel.Rows, rows - r0);
            for (int t0 = 0; t0 < n; t0 += PanelInputs)
            {
                int m = Math.Min(PanelInputs, n - t0);
                Q8_0Panel.Multiply(panel, blocks, xq + (long)t0 * xBytes, xs + (long)t0 * blocks, m, tile);
                for (int t = 0; t < m; t++)
                    new ReadOnlySpan<float>(tile + t * Q8_0Panel.Rows, valid).CopyTo(new Span<float>(y + (long)(t0 + t) * rows + r0, valid));
            }
        }
    }

    /// <summary>Inputs multiplied per pass over a panel: enough to reuse its weights from L1, few enough for registers.</summary>
    private const int PanelInputs = 8;

    /// <summary>
    /// Block-quantised weights: the n inputs are quantised once (the activation format llama.cpp pairs with the
    /// weight format), then each weight row is read once for all of them with the format's integer dot.
    /// </summary>
    private static unsafe void QuantizedCompute<TFormat>(WeightMatrix w, ReadOnlySpan<float> x, int n, Span<float> y)
        where TFormat : struct, IActivationFormat
    {
        int cols = w.Cols;
        int xBytes = TFormat.RowBytes(cols);
        byte[] xq = ArrayPool<byte>.Shared.Rent(n * xBytes + 32);
        try
        {
            for (int t = 0; t < n; t++) TFormat.Quantize(x.Slice(t * cols, cols), xq.AsSpan(t * xBytes, xBytes));
            fixed (byte* pq = xq)
            fixed (float* py = y)
            {
                nint qa = (nint)pq, ya = (nint)py;
                Split(w, n, (r0, r1) => QuantizedRows<TFormat>(w, (byte*)qa, (float*)ya, n, r0, r1));
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(xq);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void RowRange(WeightMatrix w, nint xa, nint ya, int n, int r0, int r1)
    {
        int cols = w.Cols, rows = w.Rows;
        var x = new ReadOnlySpan<float>((float*)xa, n * cols);
        float* y = (float*)ya;
        if (w.Format == WeightFormat.BF16)
        {
            // x is already rearranged for DotBf16 (once per product, in Compute).
            for (int r = r0; r < r1; r++)
            {
                var row = w.Bf16Row(r);
                for (int t = 0; t < n; t++)
                    y[(long)t * rows + r] = VectorMath.DotBf16(row, x.Slice(t * cols, cols));
            }
            return;
        }
        float[]? rented = w.Format == WeightFormat.F32 ? null : ArrayPool<float>.Shared.Rent(cols);
        try
        {
            var scratch = rented is null ? Span<float>.Empty : rented.AsSpan(0, cols);
            for (int r = r0; r < r1; r++)
            {
                var row = w.Row(r, scratch);
                for (int t = 0; t < n; t++)
                    y[(long)t * rows + r] = VectorMath.Dot(row, x.Slice(t * cols, cols));
            }
        }
        finally
        {
            if (rented is not null) ArrayPool<float>.Shared.Return(rented);
        }
    }

    /// <summary>Rows r0..r1 of a block-quantised product over pre-quantised inputs, two weight rows at a time.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void QuantizedRows<TFormat>(WeightMatrix w, byte* xq, float* y, int n, int r0, int r1)
        where TFormat : struct, IActivationFormat
    {
        int cols = w.Cols, rows = w.Rows;
        int xBytes = TFormat.RowBytes(cols), blocks = TFormat.Blocks(cols);
        int r = r0;
        for (; r + 1 < r1; r += 2)
        {
            var row0 = TFormat.WeightRow(w, r);
            var row1 = TFormat.WeightRow(w, r + 1);
            int t = 0;
            for (; t + 1 < n; t += 2)
            {
                TFormat.Dot2x2(row0, row1, new ReadOnlySpan<byte>(xq + (long)t * xBytes, xBytes), new ReadOnlySpan<byte>(xq + (long)(t + 1) * xBytes, xBytes),
                    blocks, out float y00, out float y01, out float y10, out float y11);
                y[(long)t * rows + r] = y00;
                y[(long)(t + 1) * rows + r] = y01;
                y[(long)t * rows + r + 1] = y10;
                y[(long)(t + 1) * rows + r + 1] = y11;
            }
            for (; t < n; t++)
            {
                TFormat.Dot2(row0, row1, new ReadOnlySpan<byte>(xq + (long)t * xBytes, xBytes), blocks, out float y0, out float y1);
                y[(long)t * rows + r] = y0;
                y[(long)t * rows + r + 1] = y1;
            }
        }
        for (; r < r1; r++)
        {
            var row = TFormat.WeightRow(w, r);
            for (int t = 0; t < n; t++)
                y[(long)t * rows + r] = TFormat.Dot(row, new ReadOnlySpan<byte>(xq + (long)t * xBytes, xBytes), blocks);
        }
    }

    /// <summary>How inputs are quantised for a block weight format, and that format's dot product.</summary>
    private interface IActivationFormat
    {
        static abstract int RowBytes(int cols);
        static abstract int Blocks(int cols);
        static abstract void Quantize(ReadOnlySpan<float> x, Span<byte> blocks);
        static abstract ReadOnlySpan<byte> WeightRow(WeightMatrix w, int r);
        static abstract float Dot(ReadOnlySpan<byte> w, ReadOnlySpan<byte> x, int blocks);

        /// <summary>Two rows at once, each bit-identical to <see cref="Dot"/>.</summary>
        static abstract void Dot2(ReadOnlySpan<byte> w0, ReadOnlySpan<byte> w1, ReadOnlySpan<byte> x, int blocks, out float y0, out float y1);

        /// <summary>Two rows against two inputs, each of the four bit-identical to <see cref="Dot"/>.</summary>
        static abstract void Dot2x2(ReadOnlySpan<byte> w0, ReadOnlySpan<byte> w1, ReadOnlySpan<byte> x0, ReadOnlySpan<byte> x1, int blocks,
            out float y00, out float y01, out float y10, out float y11);
    }

    /// <summary>Q4_K weights with activations quantised to Q8_K per row.</summary>
    private struct Q4KActivations : IActivationFormat
    {
        public static int RowBytes(int cols) => Q4_K.ActivationRowBytes(cols);
        public static int Blocks(int cols) => Q4_K.Blocks(cols);
        public static void Quantize(ReadOnlySpan<float> x, Span<byte> blocks) => Q4_K.QuantizeActivations(x, blocks);
        public static ReadOnlySpan<byte> WeightRow(WeightMatrix w, int r) => w.Q4KRow(r);
        public static float Dot(ReadOnlySpan<byte> w, ReadOnlySpan<byte> x, int blocks) => Q4_K.Dot(w, x, blocks);

        public static void Dot2(ReadOnlySpan<byte> w0, ReadOnlySpan<byte> w1, ReadOnlySpan<byte> x, int blocks, out float y0, out float y1)
        {
            y0 = Q4_K.Dot(w0, x, blocks);
            y1 = Q4_K.Dot(w1, x, blocks);
        }

        public static void Dot2x2(ReadOnlySpan<byte> w0, ReadOnlySpan<byte> w1, ReadOnlySpan<byte> x0, ReadOnlySpan<byte> x1, int blocks,
            out float y00, out float y01, out float y10, out float y11)
        {
            Dot2(w0, w1, x0, blocks, out y00, out y10);
            Dot2(w0, w1, x1, blocks, out y01, out y11);
        }
    }
}

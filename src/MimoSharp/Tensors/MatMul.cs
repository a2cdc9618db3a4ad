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
        fixed (float* px = x)
        fixed (float* py = y)
        {
            nint xa = (nint)px, ya = (nint)py;
            int rows = w.Rows;
            long work = (long)rows * w.Cols * n;
            int threads = work < ParallelThreshold ? 1 : MaxThreads;
            if (threads == 1)
            {
                RowRange(w, xa, ya, n, 0, rows);
                return;
            }
            // Blocks of rows, several per thread so uneven progress evens out.
            int chunks = Math.Min(rows, threads * 8);
            int per = (rows + chunks - 1) / chunks;
            chunks = (rows + per - 1) / per;
            ComputePool.For(chunks, c => RowRange(w, xa, ya, n, c * per, Math.Min(rows, (c + 1) * per)));
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void RowRange(WeightMatrix w, nint xa, nint ya, int n, int r0, int r1)
    {
        int cols = w.Cols, rows = w.Rows;
        var x = new ReadOnlySpan<float>((float*)xa, n * cols);
        float* y = (float*)ya;
        if (w.Format == WeightFormat.Q8_0)
        {
            QuantizedRows<Q8Activations>(w, x, y, n, r0, r1);
            return;
        }
        if (w.Format == WeightFormat.Q4_K)
        {
            QuantizedRows<Q4KActivations>(w, x, y, n, r0, r1);
            return;
        }
        if (w.Format == WeightFormat.BF16)
        {
            // Inputs rearranged once; each weight row is then read once for all n inputs.
            float[] arranged = ArrayPool<float>.Shared.Rent(n * cols);
            try
            {
                for (int t = 0; t < n; t++) VectorMath.InterleaveForBf16(x.Slice(t * cols, cols), arranged.AsSpan(t * cols, cols));
                for (int r = r0; r < r1; r++)
                {
                    var row = w.Bf16Row(r);
                    for (int t = 0; t < n; t++)
                        y[(long)t * rows + r] = VectorMath.DotBf16(row, arranged.AsSpan(t * cols, cols));
                }
            }
            finally
            {
                ArrayPool<float>.Shared.Return(arranged);
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

    /// <summary>
    /// Block-quantised weights: the n inputs are quantised once (the activation format llama.cpp pairs with the
    /// weight format), then each weight row is read once for all of them with the format's integer dot.
    /// </summary>
    private static unsafe void QuantizedRows<TFormat>(WeightMatrix w, ReadOnlySpan<float> x, float* y, int n, int r0, int r1)
        where TFormat : struct, IActivationFormat
    {
        int cols = w.Cols, rows = w.Rows;
        int xBytes = TFormat.RowBytes(cols), blocks = TFormat.Blocks(cols);
        byte[] xq = ArrayPool<byte>.Shared.Rent(n * xBytes + 32);
        try
        {
            for (int t = 0; t < n; t++) TFormat.Quantize(x.Slice(t * cols, cols), xq.AsSpan(t * xBytes, xBytes));
            for (int r = r0; r < r1; r++)
            {
                var row = TFormat.WeightRow(w, r);
                for (int t = 0; t < n; t++)
                    y[(long)t * rows + r] = TFormat.Dot(row, xq.AsSpan(t * xBytes, xBytes), blocks);
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(xq);
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
    }

    /// <summary>Q8_0 weights with activations quantised to Q8_0 per 32 values.</summary>
    private struct Q8Activations : IActivationFormat
    {
        public static int RowBytes(int cols) => Q8_0.RowBytes(cols);
        public static int Blocks(int cols) => Q8_0.RowBytes(cols) / Q8_0.BlockBytes;
        public static void Quantize(ReadOnlySpan<float> x, Span<byte> blocks) => Q8_0.QuantizeRow(x, blocks);
        public static ReadOnlySpan<byte> WeightRow(WeightMatrix w, int r) => w.Q8Row(r);
        public static float Dot(ReadOnlySpan<byte> w, ReadOnlySpan<byte> x, int blocks) => Q8_0.Dot(w, x, blocks);
    }

    /// <summary>Q4_K weights with activations quantised to Q8_K per row.</summary>
    private struct Q4KActivations : IActivationFormat
    {
        public static int RowBytes(int cols) => Q4_K.ActivationRowBytes(cols);
        public static int Blocks(int cols) => Q4_K.Blocks(cols);
        public static void Quantize(ReadOnlySpan<float> x, Span<byte> blocks) => Q4_K.QuantizeActivations(x, blocks);
        public static ReadOnlySpan<byte> WeightRow(WeightMatrix w, int r) => w.Q4KRow(r);
        public static float Dot(ReadOnlySpan<byte> w, ReadOnlySpan<byte> x, int blocks) => Q4_K.Dot(w, x, blocks);
    }
}

using System.Buffers;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using MimoSharp.Checkpoints;

namespace MimoSharp.Tensors;

/// <summary>
/// y[t, r] = W[r, :] · x[t, :] for n input rows. Each output element is one dot product of a decoded
/// weight row with an input row in one fixed order (<see cref="VectorMath.Dot"/>, or a fused kernel with the
/// very same order), so the result for a row never depends on n or on how rows are split across threads.
/// </summary>
public static class MatMul
{
    /// <summary>Below this many multiply-adds a matrix product runs on the calling thread alone.</summary>
    private const long ParallelThreshold = 1 << 16;

    public static unsafe void Compute(WeightMatrix w, ReadOnlySpan<float> x, int n, Span<float> y)
    {
        if (x.Length < n * w.Cols) throw new ArgumentException($"MatMul {w.Name}: input has {x.Length} values, need {n}x{w.Cols}");
        if (y.Length < n * w.Rows) throw new ArgumentException($"MatMul {w.Name}: output has {y.Length} values, need {n}x{w.Rows}");
        switch (w.Format)
        {
            case WeightFormat.Q8_0:
                PanelCompute<Q8Panels>(w, x, n, y);
                return;
            case WeightFormat.Q4_K:
                PanelCompute<Q4KPanels>(w, x, n, y);
                return;
            case WeightFormat.Q5_K:
            case WeightFormat.Q6_K:
                StoredBlocksCompute(w, x, n, y);
                return;
            case WeightFormat.Fp8Block:
                Fp8Compute(w, x, n, y);
                return;
            case WeightFormat.BF16 when w.Paneled:
                FloatPanelCompute<Bf16Panels>(w, x, n, y);
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
                var kernel = new FloatRows(w, px, py, n);
                Split(ref kernel, w.Rows, w, n);
            }
        }
        finally
        {
            if (arranged is not null) ArrayPool<float>.Shared.Return(arranged);
        }
    }

    /// <summary>A product's work over a range of units (rows, or panels of rows).</summary>
    private interface IRangeKernel
    {
        void Compute(int first, int end);
    }

    /// <summary>
    /// Runs a kernel over <paramref name="units"/>: on the calling thread for small products, else in jobs of at least
    /// <see cref="MinJobBytes"/> of weights (claiming a job costs a cache-line transfer between cores, which for tiny
    /// jobs of a decode step costs more than the job), several per thread so uneven progress evens out.
    /// </summary>
    private static void Split<TKernel>(ref TKernel kernel, int units, WeightMatrix w, int n) where TKernel : struct, IRangeKernel
    {
        long work = (long)w.Rows * w.Cols * n;
        int threads = work < ParallelThreshold ? 1 : ComputePool.CurrentThreads;
        int chunks = threads == 1 ? 1 : (int)Math.Clamp(w.StoredBytes * n / MinJobBytes, 1, Math.Min(units, threads * 16));
        if (chunks == 1)
        {
            kernel.Compute(0, units);
            return;
        }
        int per = (units + chunks - 1) / chunks;
        var job = new RangeJob<TKernel>(kernel, per, units);
        ComputePool.For((units + per - 1) / per, ref job);
    }

    private readonly struct RangeJob<TKernel>(TKernel kernel, int per, int units) : IParallelBody where TKernel : struct, IRangeKernel
    {
        public void Run(int index) => kernel.Compute(index * per, Math.Min(units, (index + 1) * per));
    }

    /// <summary>Weight bytes (times inputs) below which a product is not split further across threads.</summary>
    private const long MinJobBytes = 48 << 10;

    private readonly unsafe struct FloatRows(WeightMatrix w, float* x, float* y, int n) : IRangeKernel
    {
        public void Compute(int first, int end) => RowRange(w, (nint)x, (nint)y, n, first, end);
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
            // Four inputs per pass over a row where the vector kernel runs (the row decoded once for them, the same bits).
            int quads = Vector256.IsHardwareAccelerated && cols >= 16 ? n / 4 * 4 : 0;
            for (int r = r0; r < r1; r++)
            {
                var row = w.Bf16Row(r);
                for (int t = 0; t < quads; t += 4)
                    VectorMath.DotBf16x4(row, (float*)xa + (long)t * cols, cols, y + (long)t * rows + r, rows);
                for (int t = quads; t < n; t++)
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

    /// <summary>
    /// Block-quantised weights kept in panels of 16 rows (<see cref="Q8_0Panel"/>, <see cref="Q4_KPanel"/>): the n inputs
    /// are quantised once to the activation format llama.cpp pairs with the weight format, then each panel is read
    /// once for all of them, the panels split over the threads.
    /// </summary>
    private static unsafe void PanelCompute<TFormat>(WeightMatrix w, ReadOnlySpan<float> x, int n, Span<float> y)
        where TFormat : struct, IPanelFormat
    {
        int cols = w.Cols, rows = w.Rows, xBytes = TFormat.ActivationBytes(cols);
        byte[] xq = ArrayPool<byte>.Shared.Rent(n * xBytes);
        try
        {
            for (int t = 0; t < n; t++) TFormat.QuantizeActivations(x.Slice(t * cols, cols), xq.AsSpan(t * xBytes, xBytes));
            fixed (byte* pq = xq)
            fixed (float* py = y)
            {
                var kernel = new PanelKernel<TFormat>(w, pq, n, py);
                Split(ref kernel, Q8_0Panel.Panels(rows), w, n);
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(xq);
        }
    }

    private const int PanelRows = Q8_0Panel.Rows;

    /// <summary>FP8 weights in panels (<see cref="Fp8Panel"/>) or as stored (<see cref="Fp8Block"/>), split over the threads.</summary>
    private static unsafe void Fp8Compute(WeightMatrix w, ReadOnlySpan<float> x, int n, Span<float> y)
    {
        if (w.Paneled)
        {
            FloatPanelCompute<Fp8Panels>(w, x, n, y);
            return;
        }
        fixed (float* px = x)
        fixed (float* py = y)
        {
            var kernel = new Fp8Rows(w, px, n, py);
            Split(ref kernel, Fp8Block.Groups(w.Rows), w, n);
        }
    }

    /// <summary>FP8 or BF16 weights in 16-row panels computed in float32 (<see cref="FloatPanel{TFormat}"/>), whole panels per job.</summary>
    private static unsafe void FloatPanelCompute<TPanels>(WeightMatrix w, ReadOnlySpan<float> x, int n, Span<float> y)
        where TPanels : struct, IFloatPanels
    {
        fixed (float* px = x)
        fixed (float* py = y)
        {
            var kernel = new FloatPanels<TPanels>(w, px, n, py);
            Split(ref kernel, (w.Rows + PanelRows - 1) / PanelRows, w, n);
        }
    }

    /// <summary>A float panel format's product over a range of panels.</summary>
    private unsafe interface IFloatPanels
    {
        static abstract void Multiply(WeightMatrix w, float* x, int n, float* y, int p0, int p1);
    }

    private unsafe struct Fp8Panels : IFloatPanels
    {
        public static void Multiply(WeightMatrix w, float* x, int n, float* y, int p0, int p1) => Fp8Panel.Multiply(w, x, n, y, p0, p1);
    }

    private unsafe struct Bf16Panels : IFloatPanels
    {
        public static void Multiply(WeightMatrix w, float* x, int n, float* y, int p0, int p1) => Bf16Panel.Multiply(w, x, n, y, p0, p1);
    }

    private readonly unsafe struct FloatPanels<TPanels>(WeightMatrix w, float* x, int n, float* y) : IRangeKernel where TPanels : struct, IFloatPanels
    {
        public void Compute(int first, int end) => TPanels.Multiply(w, x, n, y, first, end);
    }

    private readonly unsafe struct Fp8Rows(WeightMatrix w, float* x, int n, float* y) : IRangeKernel
    {
        public void Compute(int first, int end) => Fp8Block.Multiply(w, x, n, y, first, end);
    }

    /// <summary>Q5_K and Q6_K weights as stored, row by row, against inputs quantised once to Q8_K.</summary>
    private static unsafe void StoredBlocksCompute(WeightMatrix w, ReadOnlySpan<float> x, int n, Span<float> y)
    {
        int cols = w.Cols, xBytes = Q4_K.ActivationRowBytes(cols);
        byte[] xq = ArrayPool<byte>.Shared.Rent(n * xBytes);
        try
        {
            for (int t = 0; t < n; t++) Q4_K.QuantizeActivations(x.Slice(t * cols, cols), xq.AsSpan(t * xBytes, xBytes));
            fixed (byte* pq = xq)
            fixed (float* py = y)
            {
                var kernel = new StoredRows(w, pq, n, py);
                Split(ref kernel, w.Rows, w, n);
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(xq);
        }
    }

    private readonly unsafe struct StoredRows(WeightMatrix w, byte* xq, int n, float* y) : IRangeKernel
    {
        public void Compute(int first, int end)
        {
            int xBytes = Q4_K.ActivationRowBytes(w.Cols), blocks = Q4_K.Blocks(w.Cols);
            bool q6 = w.Format == WeightFormat.Q6_K;
            for (int r = first; r < end; r++)
            {
                var row = w.StoredRow(r);
                for (int t = 0; t < n; t++)
                {
                    var x = new ReadOnlySpan<byte>(xq + (long)t * xBytes, xBytes);
                    y[(long)t * w.Rows + r] = q6 ? Q6_K.Dot(row, x, blocks) : Q5_K.Dot(row, x, blocks);
                }
            }
        }
    }

    private readonly unsafe struct PanelKernel<TFormat>(WeightMatrix w, byte* xq, int n, float* y) : IRangeKernel
        where TFormat : struct, IPanelFormat
    {
        public void Compute(int first, int end) => PanelRange<TFormat>(w, xq, n, y, first, end);
    }

    /// <summary>Inputs multiplied per pass over a panel: enough to reuse its weights from L1, few enough for registers.</summary>
    private const int PanelInputs = 8;

    /// <summary>Panels p0..p1 against every input, at most <see cref="PanelInputs"/> inputs at a time.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void PanelRange<TFormat>(WeightMatrix w, byte* xq, int n, float* y, int p0, int p1)
        where TFormat : struct, IPanelFormat
    {
        int rows = w.Rows, blocks = TFormat.Blocks(w.Cols), xBytes = TFormat.ActivationBytes(w.Cols);
        long panelBytes = (long)blocks * TFormat.PanelBlockBytes;
        byte* panels = w.Panels;
        float* tile = stackalloc float[PanelInputs * PanelRows];
        for (int p = p0; p < p1; p++)
        {
            int r0 = p * PanelRows, valid = Math.Min(PanelRows, rows - r0);
            for (int t0 = 0; t0 < n; t0 += PanelInputs)
            {
                int m = Math.Min(PanelInputs, n - t0);
                TFormat.Multiply(panels + p * panelBytes, blocks, xq + (long)t0 * xBytes, m, tile);
                for (int t = 0; t < m; t++)
                    new ReadOnlySpan<float>(tile + t * PanelRows, valid).CopyTo(new Span<float>(y + (long)(t0 + t) * rows + r0, valid));
            }
        }
    }

    /// <summary>A block format in panel layout: its activation format and its panel kernel.</summary>
    private unsafe interface IPanelFormat
    {
        static abstract int Blocks(int cols);
        static abstract int PanelBlockBytes { get; }
        static abstract int ActivationBytes(int cols);
        static abstract void QuantizeActivations(ReadOnlySpan<float> x, Span<byte> quantised);
        static abstract void Multiply(byte* panel, int blocks, byte* x, int n, float* y);
    }

    /// <summary>Q8_0 weights with activations quantised to Q8_0 per 32 values.</summary>
    private unsafe struct Q8Panels : IPanelFormat
    {
        public static int Blocks(int cols) => Q8_0Panel.Blocks(cols);
        public static int PanelBlockBytes => Q8_0Panel.BlockBytes;
        public static int ActivationBytes(int cols) => Q8_0Panel.ActivationBytes(cols);
        public static void QuantizeActivations(ReadOnlySpan<float> x, Span<byte> quantised) => Q8_0Panel.QuantizeActivations(x, quantised);
        public static void Multiply(byte* panel, int blocks, byte* x, int n, float* y) => Q8_0Panel.Multiply(panel, blocks, x, n, y);
    }

    /// <summary>Q4_K weights with activations quantised to Q8_K per 256 values.</summary>
    private unsafe struct Q4KPanels : IPanelFormat
    {
        public static int Blocks(int cols) => Q4_K.Blocks(cols);
        public static int PanelBlockBytes => Q4_KPanel.BlockBytes;
        public static int ActivationBytes(int cols) => Q4_K.ActivationRowBytes(cols);
        public static void QuantizeActivations(ReadOnlySpan<float> x, Span<byte> quantised) => Q4_K.QuantizeActivations(x, quantised);
        public static void Multiply(byte* panel, int blocks, byte* x, int n, float* y) => Q4_KPanel.Multiply(panel, blocks, x, n, y);
    }
}

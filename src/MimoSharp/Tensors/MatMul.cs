using System.Buffers;

namespace MimoSharp.Tensors;

/// <summary>
/// y[t, r] = W[r, :] · x[t, :] for n input rows. Each output element is one <see cref="VectorMath.Dot"/>
/// of a decoded weight row with an input row, so the result for a row never depends on n or on
/// how rows are split across threads. A weight row is decoded once and reused for every input row.
/// </summary>
public static class MatMul
{
    /// <summary>Threads the kernels may use; defaults to every core.</summary>
    public static int MaxThreads { get; set; } = Environment.ProcessorCount;

    public static unsafe void Compute(WeightMatrix w, ReadOnlySpan<float> x, int n, Span<float> y)
    {
        if (x.Length < n * w.Cols) throw new ArgumentException($"MatMul {w.Name}: input has {x.Length} values, need {n}x{w.Cols}");
        if (y.Length < n * w.Rows) throw new ArgumentException($"MatMul {w.Name}: output has {y.Length} values, need {n}x{w.Rows}");
        fixed (float* px = x)
        fixed (float* py = y)
        {
            nint xa = (nint)px, ya = (nint)py;
            int rows = w.Rows;
            int threads = Math.Max(1, Math.Min(MaxThreads, (int)Math.Min(rows, 1 + (long)rows * w.Cols * n / 32768)));
            if (threads == 1)
            {
                RowRange(w, xa, ya, n, 0, rows);
                return;
            }
            int chunks = threads * 4;
            int per = (rows + chunks - 1) / chunks;
            Parallel.For(0, chunks, new ParallelOptions { MaxDegreeOfParallelism = threads }, c =>
            {
                int r0 = c * per, r1 = Math.Min(rows, r0 + per);
                if (r0 < r1) RowRange(w, xa, ya, n, r0, r1);
            });
        }
    }

    private static unsafe void RowRange(WeightMatrix w, nint xa, nint ya, int n, int r0, int r1)
    {
        int cols = w.Cols, rows = w.Rows;
        float[]? rented = w.DType == Checkpoints.DType.F32 ? null : ArrayPool<float>.Shared.Rent(cols);
        try
        {
            var scratch = rented is null ? Span<float>.Empty : rented.AsSpan(0, cols);
            var x = new ReadOnlySpan<float>((float*)xa, n * cols);
            float* y = (float*)ya;
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
}

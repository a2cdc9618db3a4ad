using System.Runtime.Intrinsics.X86;
using MimoSharp.Tensors;

namespace MimoSharp.Tests.Tensors;

/// <summary>Runs a product on every instruction-set path a kernel has, at 1 and 2 threads, and compares bits.</summary>
internal static class KernelPaths
{
    /// <summary>
    /// y = w · x for each input count in <paramref name="counts"/>, on the scalar, AVX2 and (where
    /// <paramref name="avx512"/>) AVX-512 paths that <paramref name="select"/> switches to, each at 1 and 2 threads;
    /// every output must equal <paramref name="expected"/> bit for bit. The CPU's own paths are restored after.
    /// </summary>
    public static void AssertCanonical(WeightMatrix w, float[] x, float[] expected, int[] counts, bool avx512, Action<bool, bool> select)
    {
        var paths = new List<(bool Avx512, bool Avx2)> { (false, false) };
        bool avx2 = Avx2.IsSupported && Fma.IsSupported;
        if (avx2) paths.Add((false, true));
        if (avx512) paths.Add((true, true));
        int saved = ComputePool.Threads;
        try
        {
            foreach (var (on512, on2) in paths)
                foreach (int threads in new[] { 1, 2 })
                {
                    select(on512, on2);
                    ComputePool.Threads = threads;
                    foreach (int m in counts)
                    {
                        var y = new float[m * w.Rows];
                        MatMul.Compute(w, x.AsSpan(0, m * w.Cols), m, y);
                        for (int i = 0; i < m * w.Rows; i++)
                            Assert.True(expected[i].Equals(y[i]),
                                $"{m} inputs, {threads} threads, AVX-512 {on512}, AVX2 {on2}, output {i}: {y[i]} instead of {expected[i]}");
                    }
                }
        }
        finally
        {
            ComputePool.Threads = saved;
            select(avx512, avx2);
        }
    }
}

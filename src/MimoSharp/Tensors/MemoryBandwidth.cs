using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace MimoSharp.Tensors;

/// <summary>
/// Measures streaming read bandwidth (what a memory-bound decode step is limited by): a buffer larger
/// than the caches is summed with SIMD loads on the kernels' threads; the best of several passes counts.
/// </summary>
public static class MemoryBandwidth
{
    public static double MeasureBytesPerSecond(int threads, long bytes = 512L << 20, int passes = 5)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(bytes, 64L * sizeof(float) * Math.Max(1, threads));
        long count = bytes / sizeof(float);
        var buffer = GC.AllocateUninitializedArray<float>(checked((int)count), pinned: true);
        buffer.AsSpan().Fill(1f);
        double best = 0;
        int parts = Math.Max(1, threads);
        long per = count / parts / 64 * 64;
        var sums = new float[parts];
        for (int p = 0; p < passes; p++)
        {
            var clock = Stopwatch.StartNew();
            using (ComputePool.UseThreads(parts))
                ComputePool.For(parts, i => sums[i] = Sum(buffer.AsSpan((int)(i * per), (int)per)));
            double seconds = clock.Elapsed.TotalSeconds;
            best = Math.Max(best, per * parts * sizeof(float) / seconds);
        }
        GC.KeepAlive(sums);
        return best;
    }

    /// <summary>
    /// Read bandwidth from the last-level cache: a buffer of a quarter of <paramref name="cacheBytes"/> (so it stays
    /// there beside what else the cache holds) summed repeatedly; the first pass brings it in, the best pass counts.
    /// </summary>
    public static double MeasureCacheBytesPerSecond(int threads, long cacheBytes) =>
        MeasureBytesPerSecond(threads, Math.Max(cacheBytes / 4, 1L << 20), passes: 40);

    private static float Sum(ReadOnlySpan<float> x)
    {
        ref float p = ref MemoryMarshal.GetReference(x);
        var a = Vector256<float>.Zero;
        var b = Vector256<float>.Zero;
        var c = Vector256<float>.Zero;
        var d = Vector256<float>.Zero;
        for (int i = 0; i <= x.Length - 32; i += 32)
        {
            a += Vector256.LoadUnsafe(ref p, (nuint)i);
            b += Vector256.LoadUnsafe(ref p, (nuint)(i + 8));
            c += Vector256.LoadUnsafe(ref p, (nuint)(i + 16));
            d += Vector256.LoadUnsafe(ref p, (nuint)(i + 24));
        }
        return Vector256.Sum(a + b + c + d);
    }
}

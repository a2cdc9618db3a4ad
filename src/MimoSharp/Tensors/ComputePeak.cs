using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace MimoSharp.Tensors;

/// <summary>
/// Measures the float32 multiply-add peak of the kernels' threads (the compute roof of a step whose rows share
/// weights): independent chains of fused multiply-adds held in registers, wide enough to hide the FMA latency,
/// on every thread at once; the best of several passes counts. Where decoding is memory-bound (one row per
/// weight read) this roof does not matter; past ~peak/bandwidth FLOP per byte it does.
/// </summary>
public static class ComputePeak
{
    private const int Iterations = 1 << 20;

    public static double MeasureFlopsPerSecond(int threads, int passes = 5)
    {
        int parts = Math.Max(1, threads);
        var sink = new float[parts];
        double best = 0;
        for (int p = 0; p < passes; p++)
        {
            var clock = Stopwatch.StartNew();
            using (ComputePool.UseThreads(parts))
                ComputePool.For(parts, i => sink[i] = Chains(1.0000001f + i * 1e-9f));
            double seconds = clock.Elapsed.TotalSeconds;
            best = Math.Max(best, parts * FlopsPerCall / seconds);
        }
        GC.KeepAlive(sink);
        return best;
    }

    private static double FlopsPerCall => (double)Iterations * 12 * 2 * Vector256<float>.Count;

    /// <summary>
    /// 12 chains (a Zen 4 or Intel core keeps ~8–10 FMAs in flight), 2 FLOP per lane per step, in 256-bit vectors:
    /// the width of the engine's kernels (Zen 4 splits a 512-bit FMA in two, so this is also its peak there).
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static float Chains(float m)
    {
        var x = Vector256.Create(m);
        var c = Vector256.Create(1e-7f);
        Vector256<float> a0 = x, a1 = x, a2 = x, a3 = x, a4 = x, a5 = x, a6 = x, a7 = x, a8 = x, a9 = x, a10 = x, a11 = x;
        for (int i = 0; i < Iterations; i++)
        {
            a0 = Vector256.FusedMultiplyAdd(a0, x, c); a1 = Vector256.FusedMultiplyAdd(a1, x, c);
            a2 = Vector256.FusedMultiplyAdd(a2, x, c); a3 = Vector256.FusedMultiplyAdd(a3, x, c);
            a4 = Vector256.FusedMultiplyAdd(a4, x, c); a5 = Vector256.FusedMultiplyAdd(a5, x, c);
            a6 = Vector256.FusedMultiplyAdd(a6, x, c); a7 = Vector256.FusedMultiplyAdd(a7, x, c);
            a8 = Vector256.FusedMultiplyAdd(a8, x, c); a9 = Vector256.FusedMultiplyAdd(a9, x, c);
            a10 = Vector256.FusedMultiplyAdd(a10, x, c); a11 = Vector256.FusedMultiplyAdd(a11, x, c);
        }
        return Vector256.Sum(((a0 + a1) + (a2 + a3)) + ((a4 + a5) + (a6 + a7)) + ((a8 + a9) + (a10 + a11)));
    }
}

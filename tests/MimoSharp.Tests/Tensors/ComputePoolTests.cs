using MimoSharp.Tensors;

namespace MimoSharp.Tests.Tensors;

public sealed class ComputePoolTests
{
    private readonly struct Count(int[] hits) : IParallelBody
    {
        public void Run(int index) => Interlocked.Increment(ref hits[index]);
    }

    private readonly struct Fail(int at) : IParallelBody
    {
        public void Run(int index)
        {
            if (index == at) throw new InvalidOperationException($"job {index} failed");
        }
    }

    [Fact]
    public void AStructBodyRunsEveryJobOnceAndItsExceptionReachesTheCaller()
    {
        int saved = ComputePool.Threads;
        try
        {
            ComputePool.Threads = 2;
            for (int round = 0; round < 200; round++)
            {
                var hits = new int[1 + round % 37];
                var body = new Count(hits);
                ComputePool.For(hits.Length, ref body);
                Assert.All(hits, h => Assert.Equal(1, h));
            }
            var fail = new Fail(5);
            Assert.Equal("job 5 failed", Assert.Throws<InvalidOperationException>(() => ComputePool.For(9, ref fail)).Message);
        }
        finally
        {
            ComputePool.Threads = saved;
        }
    }

    /// <summary>
    /// Every loop reuses one loop object, so a worker that arrives late (here: more threads than cores, so workers are
    /// often descheduled) must never run a job of the loop after its own: each loop counts into its own array, and a job
    /// run twice, run for the wrong loop or lost shows there. A loop after a failed one runs cleanly.
    /// </summary>
    [Fact]
    public void BackToBackLoopsOnMoreThreadsThanCoresRunEachOfTheirJobsExactlyOnce()
    {
        using var threads = ComputePool.UseThreads(Math.Max(8, 4 * Environment.ProcessorCount));
        var arrays = new int[2][];
        for (int round = 0; round < 3_000; round++)
        {
            var hits = arrays[round % 2] ??= new int[64];
            int jobs = 1 + round * 7 % 64;
            Array.Clear(hits);
            var body = new Count(hits);
            ComputePool.For(jobs, ref body);
            for (int i = 0; i < hits.Length; i++) Assert.Equal(i < jobs ? 1 : 0, hits[i]);
            if (round % 500 == 499)
            {
                var fail = new Fail(round % 3);
                Assert.Throws<InvalidOperationException>(() => ComputePool.For(3, ref fail));
            }
        }
    }

    private readonly struct SeenThreads(int[] counts) : IParallelBody
    {
        public void Run(int index) => counts[index] = ComputePool.CurrentThreads;
    }

    [Fact]
    public void AThreadsScopeGovernsTheLoopsOfItsThreadAndTheirBodiesThenRestoresTheCountBefore()
    {
        int before = ComputePool.CurrentThreads;
        using (ComputePool.UseThreads(7))
        {
            Assert.Equal(7, ComputePool.CurrentThreads);
            using (ComputePool.UseThreads(null)) Assert.Equal(7, ComputePool.CurrentThreads);
            using (ComputePool.UseThreads(1))
            {
                // One thread: every job runs on the caller.
                var ran = new int[16];
                int caller = Environment.CurrentManagedThreadId;
                ComputePool.For(ran.Length, i => ran[i] = Environment.CurrentManagedThreadId);
                Assert.All(ran, id => Assert.Equal(caller, id));
            }
            Assert.Equal(7, ComputePool.CurrentThreads);
            // Bodies, on whichever thread they run, see the count of the code that started the loop.
            var seen = new int[64];
            var body = new SeenThreads(seen);
            ComputePool.For(seen.Length, ref body);
            Assert.All(seen, n => Assert.Equal(7, n));
            // Another thread is not affected.
            int other = 0;
            var thread = new Thread(() => other = ComputePool.CurrentThreads);
            thread.Start();
            thread.Join();
            Assert.NotEqual(7, other);
        }
        Assert.Equal(before, ComputePool.CurrentThreads);
        Assert.Throws<ArgumentOutOfRangeException>(() => ComputePool.UseThreads(0).Dispose());
    }
}

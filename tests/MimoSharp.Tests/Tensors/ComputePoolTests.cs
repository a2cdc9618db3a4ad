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
}

using MimoSharp.Tensors;

namespace MimoSharp.Tests.Tensors;

public sealed class WeightArenaTests
{
    [Fact]
    public unsafe void AllocationsAreAlignedZeroedAndDisjoint()
    {
        var taken = new List<(long Start, long End, object Owner)>();
        var random = new Random(2);
        // Small ones share chunks; a large one (over a quarter of a chunk) gets a chunk of its own.
        foreach (long bytes in Enumerable.Range(0, 200).Select(_ => (long)random.Next(1, 300_000)).Append(20L << 20))
        {
            byte* p = WeightArena.Allocate(bytes, out object owner);
            Assert.Equal(0, (long)p % 64);
            Assert.True(new ReadOnlySpan<byte>(p, (int)bytes).IndexOfAnyExcept((byte)0) < 0, "memory is zeroed");
            new Span<byte>(p, (int)bytes).Fill(0xAB);   // later allocations must not see (or reuse) it
            taken.Add(((long)p, (long)p + bytes, owner));
        }
        var sorted = taken.OrderBy(t => t.Start).ToList();
        for (int i = 1; i < sorted.Count; i++) Assert.True(sorted[i].Start >= sorted[i - 1].End, "allocations overlap");
        Assert.NotSame(taken[^2].Owner, taken[^1].Owner);
        GC.KeepAlive(taken);
    }
}

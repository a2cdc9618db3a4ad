using System.Runtime.InteropServices;

namespace MimoSharp.Tensors;

/// <summary>
/// Memory for weights repacked at load, carved from 2 MiB-aligned chunks that ask Linux for transparent huge pages:
/// decoding streams every active weight once per token, and with 4 KiB pages each 4 KiB of it costs a page walk
/// (a MoE token touches hundreds of MB spread over thousands of expert matrices, far past the TLB's reach).
/// A chunk is freed when no matrix carved from it is left.
/// </summary>
internal static unsafe class WeightArena
{
    private const long ChunkBytes = 32L << 20;
    private const long HugePage = 2L << 20;
    private const int Alignment = 64;

    private static readonly object s_gate = new();
    private static Chunk? s_current;

    /// <summary>Zeroed memory of <paramref name="bytes"/>, 64-byte aligned; keep <paramref name="owner"/> alive while it is used.</summary>
    public static byte* Allocate(long bytes, out object owner)
    {
        if (bytes > ChunkBytes / 4)
        {
            var own = new Chunk(bytes);
            owner = own;
            return own.Take(bytes)!;
        }
        lock (s_gate)
        {
            var chunk = s_current;
            byte* p = chunk is null ? null : chunk.Take(bytes);
            if (p == null)
            {
                s_current = chunk = new Chunk(ChunkBytes);
                p = chunk.Take(bytes);
            }
            owner = chunk!;
            return p;
        }
    }

    private sealed class Chunk
    {
        private readonly byte* _base;
        private readonly long _length;
        private long _used;

        public Chunk(long bytes)
        {
            _length = (bytes + HugePage - 1) / HugePage * HugePage;
            _base = (byte*)NativeMemory.AlignedAlloc((nuint)_length, (nuint)HugePage);
            GC.AddMemoryPressure(_length);
            if (OperatingSystem.IsLinux()) _ = Madvise((nint)_base, (nuint)_length, MadvHugePage); // advice only
        }

        ~Chunk()
        {
            NativeMemory.AlignedFree(_base);
            GC.RemoveMemoryPressure(_length);
        }

        public byte* Take(long bytes)
        {
            long start = (_used + Alignment - 1) / Alignment * Alignment;
            if (start + bytes > _length) return null;
            _used = start + bytes;
            NativeMemory.Clear(_base + start, (nuint)bytes); // only what is used is touched
            return _base + start;
        }
    }

    private const int MadvHugePage = 14;

    [DllImport("libc", EntryPoint = "madvise")]
    private static extern int Madvise(nint address, nuint length, int advice);
}

using System.Runtime.InteropServices;

namespace MimoSharp.Training.Compat;

/// <summary>
/// Keeps libtorch's freed tensor memory in the process for reuse. libtorch's CPU allocator is glibc's malloc, which
/// serves every block over its mmap threshold (at most 32 MB) with a fresh mmap and unmaps it on free, and trims the
/// heap top back to the kernel. A training step allocates and frees gigabytes of activations, logits and gradients
/// ([8192, 4122] float32 logits alone are 135 MB), so every step paid a page fault and a page clear per 4 KiB again:
/// 6.2M minor faults and 37 s of kernel time in a 48 s profile of the default model. With mmap off and trimming off,
/// a block freed in one step is reused in the next, and the kernel clears each page once. The cost: the process keeps
/// its peak heap resident instead of returning it between steps.
/// </summary>
public static partial class NativeHeap
{
    // glibc <malloc.h>
    private const int MTrimThreshold = -1;
    private const int MMmapMax = -4;

    private static readonly Lock Gate = new();
    private static bool? _retained;

    /// <summary>Turns off glibc's mmap for large blocks and its heap trimming, once per process; false where the C
    /// library is not glibc (nothing changed).</summary>
    public static bool RetainFreedMemory()
    {
        lock (Gate)
        {
            return _retained ??= Apply();
        }
    }

    private static bool Apply()
    {
        if (!OperatingSystem.IsLinux()) return false;
        try
        {
            // -1 converts to SIZE_MAX inside glibc: the heap top is never trimmed.
            return MallOpt(MMmapMax, 0) == 1 && MallOpt(MTrimThreshold, -1) == 1;
        }
        catch (Exception e) when (e is EntryPointNotFoundException or DllNotFoundException)
        {
            return false;   // musl and other C libraries: no mallopt, keep their defaults
        }
    }

    [LibraryImport("libc", EntryPoint = "mallopt")]
    private static partial int MallOpt(int parameter, int value);
}

using System.IO.MemoryMappedFiles;

namespace MimoSharp.Checkpoints;

/// <summary>
/// A whole file mapped read-only into memory: the checkpoint readers parse headers from it and point the
/// kernels straight at its tensor data, so only the pages a computation touches are read from disk.
/// </summary>
internal sealed unsafe class MappedFile : IDisposable
{
    private readonly MemoryMappedFile _map;
    private readonly MemoryMappedViewAccessor _view;

    public byte* Pointer { get; private set; }
    public long Length { get; }

    private MappedFile(MemoryMappedFile map, MemoryMappedViewAccessor view, byte* pointer, long length)
    {
        _map = map;
        _view = view;
        Pointer = pointer;
        Length = length;
    }

    /// <summary>The length of the file a path names, through symbolic links (Hugging Face caches link to blobs).</summary>
    public static long LengthOf(string path)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete, 1);
        return stream.Length;
    }

    /// <summary>Maps a non-empty file (the caller checks existence and minimum length first, with its own message).</summary>
    public static MappedFile Open(string path, long length)
    {
        var map = MemoryMappedFile.CreateFromFile(path, FileMode.Open, null, 0, MemoryMappedFileAccess.Read);
        MemoryMappedViewAccessor? view = null;
        try
        {
            view = map.CreateViewAccessor(0, length, MemoryMappedFileAccess.Read);
            byte* p = null;
            view.SafeMemoryMappedViewHandle.AcquirePointer(ref p);
            return new MappedFile(map, view, p + view.PointerOffset, length);
        }
        catch
        {
            view?.Dispose();
            map.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Drops this process's pages of a range of a read-only mapping (they stay in the page cache and fault back in if
    /// read again): weights repacked into memory of our own would otherwise count twice in the resident set.
    /// </summary>
    public static void Release(byte* start, long length)
    {
        if (!OperatingSystem.IsLinux() || length <= 0) return;
        long page = Environment.SystemPageSize;
        long first = (long)start / page * page, end = ((long)start + length + page - 1) / page * page;
        _ = Madvise((nint)first, (nuint)(end - first), MadvDontNeed); // advice only: a failure leaves the pages mapped
    }

    private const int MadvDontNeed = 4;

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "madvise")]
    private static extern int Madvise(nint address, nuint length, int advice);

    public void Dispose()
    {
        if (Pointer != null)
        {
            _view.SafeMemoryMappedViewHandle.ReleasePointer();
            Pointer = null;
        }
        _view.Dispose();
        _map.Dispose();
    }
}

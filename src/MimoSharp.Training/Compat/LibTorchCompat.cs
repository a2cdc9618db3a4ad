using System.Runtime.InteropServices;

namespace MimoSharp.Training.Compat;

/// <summary>What <see cref="LibTorchCompat.EnsureInitialized"/> found and did.</summary>
public enum LibTorchCompatStatus
{
    /// <summary>Not Linux: nothing to do.</summary>
    NotLinux,

    /// <summary>The system libstdc++ already provides GLIBCXX_3.4.32: nothing to do.</summary>
    SystemLibStdCxxIsNewEnough,

    /// <summary>The requirement is weak (patched now or earlier) and the shim defining the symbol is loaded.</summary>
    ShimLoaded,
}

/// <summary>
/// Lets TorchSharp's native glue run on a libstdc++ older than GCC 13 (Debian 12 stops at GLIBCXX_3.4.30).
/// <c>libLibTorchSharp.so</c> 0.107.0 needs GLIBCXX_3.4.32 for one symbol only, <c>std::ios_base_library_init()</c>,
/// which GCC 13's <c>&lt;iostream&gt;</c> references without calling. Where the system lacks that version this
/// component (1) marks the version requirement weak in the library's ELF version-needs table, so the dynamic
/// loader accepts the library, and (2) loads, RTLD_GLOBAL, a tiny shim library (built from
/// <c>Compat/native/glibcxx_shim.cpp</c>) that defines the symbol as a no-op under that version. Where the system
/// has the symbol, or off Linux, it does nothing. Call it before the first TorchSharp call; it is idempotent.
/// </summary>
public static partial class LibTorchCompat
{
    public const string Symbol = "_ZSt21ios_base_library_initv";
    public const string SymbolVersion = "GLIBCXX_3.4.32";
    public const string LibStdCxx = "libstdc++.so.6";
    public const string TorchSharpNative = "libLibTorchSharp.so";
    public const string ShimFileName = "libmimo_glibcxx_shim.so";

    private static readonly Lock Gate = new();
    private static LibTorchCompatStatus? _status;

    /// <summary>Applies the fix where it is needed (once per process) and says what it did.</summary>
    public static LibTorchCompatStatus EnsureInitialized()
    {
        lock (Gate)
        {
            return _status ??= Initialize();
        }
    }

    private static LibTorchCompatStatus Initialize()
    {
        if (!OperatingSystem.IsLinux()) return LibTorchCompatStatus.NotLinux;
        if (SystemHasSymbol()) return LibTorchCompatStatus.SystemLibStdCxxIsNewEnough;

        var natives = SearchDirectories().Select(d => Path.Combine(d, TorchSharpNative)).Where(File.Exists).ToList();
        if (natives.Count == 0)
            throw new InvalidOperationException(
                $"{TorchSharpNative} was not found in the native search directories ({string.Join(", ", SearchDirectories())}); " +
                "is the TorchSharp package referenced with RuntimeIdentifier linux-x64?");
        foreach (var path in natives)
        {
            try
            {
                ElfVersionNeeds.MarkWeak(path, LibStdCxx, SymbolVersion);
            }
            catch (InvalidDataException)
            {
                // This build of the library does not ask for GLIBCXX_3.4.32: nothing to mark.
            }
            catch (UnauthorizedAccessException e)
            {
                throw new InvalidOperationException(
                    $"{path} requires {SymbolVersion}, which this system's {LibStdCxx} lacks, and the file is not writable " +
                    $"to mark that requirement weak ({e.Message}); make the build output writable or install GCC 13's libstdc++", e);
            }
        }

        string shim = SearchDirectories().Select(d => Path.Combine(d, ShimFileName)).FirstOrDefault(File.Exists)
            ?? throw new InvalidOperationException(
                $"{ShimFileName} was not found next to the application ({AppContext.BaseDirectory}); it is built from " +
                "src/MimoSharp.Training/Compat/native/glibcxx_shim.cpp by g++ during dotnet build — is g++ installed?");
        if (dlopen(shim, RtldNow | RtldGlobal) == 0)
            throw new InvalidOperationException($"could not load {shim}: {Marshal.PtrToStringUTF8(dlerror())}");
        return LibTorchCompatStatus.ShimLoaded;
    }

    /// <summary>True when the process's libstdc++ defines std::ios_base_library_init() at GLIBCXX_3.4.32.</summary>
    internal static bool SystemHasSymbol()
    {
        nint handle = dlopen(LibStdCxx, RtldLazy);
        if (handle == 0) return false;
        return dlvsym(handle, Symbol, SymbolVersion) != 0;
    }

    /// <summary>Where the runtime looks for native libraries: the app folder first, then the deps.json probe paths.</summary>
    internal static IEnumerable<string> SearchDirectories()
    {
        var dirs = new List<string> { AppContext.BaseDirectory };
        if (AppContext.GetData("NATIVE_DLL_SEARCH_DIRECTORIES") is string probe)
            dirs.AddRange(probe.Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries));
        dirs.Add(Path.Combine(AppContext.BaseDirectory, "runtimes", "linux-x64", "native"));
        return dirs.Select(d => Path.GetFullPath(d)).Distinct().Where(Directory.Exists);
    }

    private const int RtldLazy = 0x001;
    private const int RtldNow = 0x002;
    private const int RtldGlobal = 0x100;

    [LibraryImport("libc.so.6", StringMarshalling = StringMarshalling.Utf8)]
    private static partial nint dlopen(string file, int mode);

    [LibraryImport("libc.so.6", StringMarshalling = StringMarshalling.Utf8)]
    private static partial nint dlvsym(nint handle, string symbol, string version);

    [LibraryImport("libc.so.6")]
    private static partial nint dlerror();
}

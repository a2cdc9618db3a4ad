using MimoSharp.Training.Compat;
using MimoSharp.Training.Tests.Support;
using static TorchSharp.torch;

namespace MimoSharp.Training.Tests.Compat;

public class LibTorchCompatTests
{
    [Fact]
    public void TorchRunsAfterTheCompatibilityStep()
    {
        TorchSetup.Init();
        using var a = tensor(new float[] { 1, 2, 3, 4 }).reshape(2, 2);
        using var b = matmul(a, a);
        Assert.Equal(new float[] { 7, 10, 15, 22 }, b.data<float>().ToArray());
    }

    [Fact]
    public void FixIsAppliedOnlyWhereTheSystemLacksTheSymbol()
    {
        var status = LibTorchCompat.EnsureInitialized();
        if (!OperatingSystem.IsLinux()) Assert.Equal(LibTorchCompatStatus.NotLinux, status);
        else if (LibTorchCompat.SystemHasSymbol()) Assert.Equal(LibTorchCompatStatus.SystemLibStdCxxIsNewEnough, status);
        else Assert.Equal(LibTorchCompatStatus.ShimLoaded, status);
        Assert.Equal(status, LibTorchCompat.EnsureInitialized());
    }

    [Fact]
    public void MarkWeakEditsOnlyTheNamedRequirement()
    {
        if (!OperatingSystem.IsLinux()) return;
        string original = LibTorchCompat.SearchDirectories()
            .Select(d => Path.Combine(d, LibTorchCompat.TorchSharpNative)).First(File.Exists);
        string copy = Path.Combine(Path.GetTempPath(), $"mimo-elf-{Guid.NewGuid():N}.so");
        try
        {
            File.Copy(original, copy);
            var before = ElfVersionNeeds.Read(copy);
            Assert.Contains(before, r => r.File == LibTorchCompat.LibStdCxx && r.Version == LibTorchCompat.SymbolVersion);
            Assert.Contains(before, r => r.Version == "GLIBC_2.2.5" && !r.IsWeak);
            ElfVersionNeeds.MarkWeak(copy, LibTorchCompat.LibStdCxx, LibTorchCompat.SymbolVersion);
            Assert.False(ElfVersionNeeds.MarkWeak(copy, LibTorchCompat.LibStdCxx, LibTorchCompat.SymbolVersion));
            var after = ElfVersionNeeds.Read(copy);
            Assert.Equal(before.Count, after.Count);
            for (int i = 0; i < before.Count; i++)
            {
                bool target = before[i].Version == LibTorchCompat.SymbolVersion;
                Assert.Equal(target || before[i].IsWeak, after[i].IsWeak);
            }
            byte[] a = File.ReadAllBytes(original), b = File.ReadAllBytes(copy);
            int differing = 0;
            for (int i = 0; i < a.Length; i++) if (a[i] != b[i]) differing++;
            Assert.True(differing <= 1, $"{differing} bytes changed");
        }
        finally
        {
            File.Delete(copy);
        }
    }

    [Fact]
    public void NonElfInputIsRejectedWithItsPath()
    {
        string path = Path.Combine(Path.GetTempPath(), $"mimo-not-elf-{Guid.NewGuid():N}.so");
        File.WriteAllText(path, "definitely not an ELF file, but long enough to have a header of sixty-four bytes......");
        try
        {
            var e = Assert.Throws<InvalidDataException>(() => ElfVersionNeeds.Read(path));
            Assert.Contains(path, e.Message);
        }
        finally
        {
            File.Delete(path);
        }
    }
}

using MimoSharp.Training.Compat;

namespace MimoSharp.Training.Tests.Compat;

public class NativeHeapTests
{
    [Fact]
    public void GlibcAcceptsTheSettingsOnceAndForAll()
    {
        // The trainer's runs are on linux-x64 with glibc: mallopt must exist there and accept both settings.
        bool retained = NativeHeap.RetainFreedMemory();
        Assert.Equal(OperatingSystem.IsLinux(), retained);
        Assert.Equal(retained, NativeHeap.RetainFreedMemory());
    }
}

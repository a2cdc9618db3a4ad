using MimoSharp.Training.Compat;

namespace MimoSharp.Training.Tests.Support;

/// <summary>Every torch test starts here: the libstdc++ compatibility step, then one compute thread.</summary>
public static class TorchSetup
{
    private static readonly Lazy<bool> Once = new(() =>
    {
        LibTorchCompat.EnsureInitialized();
        TorchSharp.torch.set_num_threads(1);
        return true;
    });

    public static void Init() => _ = Once.Value;
}

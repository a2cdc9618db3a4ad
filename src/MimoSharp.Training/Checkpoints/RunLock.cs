namespace MimoSharp.Training.Checkpoints;

/// <summary>
/// One process per run folder: training/.lock held open with FileShare.None (an exclusive advisory lock on Linux)
/// for the life of the run, so a second `mimo train`/`mimo distill` into the same folder stops with a clear error
/// instead of interleaving saves or deleting the first one's temporary files. The OS drops the lock when the
/// process dies, so a killed run never leaves it stuck.
/// </summary>
public static class RunLock
{
    public static IDisposable Acquire(string runDirectory)
    {
        string folder = Path.Combine(runDirectory, "training");
        Directory.CreateDirectory(folder);
        string path = Path.Combine(folder, ".lock");
        try
        {
            return new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
        }
        catch (IOException e)
        {
            throw new InvalidOperationException($"{runDirectory} is in use by another training or distillation process ({path} is locked)", e);
        }
    }
}

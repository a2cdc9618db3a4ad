using System.Globalization;
using MimoSharp.Checkpoints;
using MimoSharp.Training.Model;
using MimoSharp.Training.Optim;
using static TorchSharp.torch;

namespace MimoSharp.Training.Checkpoints;

/// <summary>
/// The exact-resume part of a training checkpoint: float32 master weights (the model file may be stored in bf16)
/// and the AdamW moments, as master/NAME, adam_m/NAME, adam_v/NAME in one safetensors file.
/// <para>
/// Crash safety: each save writes a new file named by its optimizer step (<see cref="FileFor"/>); the run's state
/// file, written atomically after it, names the file it belongs to and is the commit point. A kill at any moment
/// leaves the previous state file naming a previous, complete optimizer file; <see cref="Prune"/> removes the older
/// files only after the new state is in place.
/// </para>
/// </summary>
public static class OptimizerCheckpoint
{
    /// <summary>The state files of runs saved before per-step files name this one.</summary>
    public const string LegacyFileName = "optimizer.safetensors";

    /// <summary>The file name a save at optimizer step <paramref name="step"/> writes.</summary>
    public static string FileFor(long step) => $"optimizer-{step:D8}.safetensors";

    /// <summary>Writes the optimizer file of this step into <paramref name="folder"/>; returns its file name for the state file.</summary>
    public static string SaveStep(MimoNetwork network, AdamW optimizer, string folder)
    {
        string name = FileFor(optimizer.Step);
        Save(network, optimizer, Path.Combine(folder, name));
        return name;
    }

    /// <summary>
    /// After the state file names <paramref name="keep"/>: deletes the other optimizer files (older saves, and one a
    /// kill left uncommitted).
    /// </summary>
    public static void Prune(string folder, string keep)
    {
        foreach (var file in Directory.EnumerateFiles(folder, "optimizer*.safetensors"))
            if (Path.GetFileName(file) != keep) File.Delete(file);
    }

    public static void Save(MimoNetwork network, AdamW optimizer, string path)
    {
        var writer = new SafetensorsWriter();
        writer.AddMetadata("step", optimizer.Step.ToString(CultureInfo.InvariantCulture));
        foreach (var (name, t) in NetworkCheckpoint.Tensors(network))
        {
            writer.AddF32("master/" + name, t.shape, NetworkCheckpoint.ToArray(t));
            if (optimizer.M.TryGetValue(name, out var m))
            {
                writer.AddF32("adam_m/" + name, m.shape, NetworkCheckpoint.ToArray(m));
                writer.AddF32("adam_v/" + name, m.shape, NetworkCheckpoint.ToArray(optimizer.V[name]));
            }
        }
        writer.Write(path);
    }

    /// <summary>Restores master weights and moments; <paramref name="run"/> names the run in errors.</summary>
    public static void Load(MimoNetwork network, AdamW optimizer, string path, string run, long? expectedStep = null)
    {
        if (!File.Exists(path)) throw new InvalidOperationException($"cannot resume {run}: {path} is missing");
        using var file = SafetensorsFile.Open(path);
        if (expectedStep is long want && (!file.Metadata.TryGetValue("step", out var saved) || saved != want.ToString(CultureInfo.InvariantCulture)))
            throw new InvalidOperationException(
                $"cannot resume {run}: {path} holds optimizer step {saved ?? "(none)"}, but the state file was saved at step {want}");
        using var _ = no_grad();
        void Copy(string name, Tensor target)
        {
            if (!file.Tensors.TryGetValue(name, out var info))
                throw new InvalidOperationException($"cannot resume {run}: {path} has no tensor {name} (was it saved from another model shape?)");
            if (!info.Shape.SequenceEqual(target.shape))
                throw new InvalidOperationException($"cannot resume {run}: {path} tensor {name} has shape {info.ShapeText}, the model needs [{string.Join(", ", target.shape)}]");
            using var source = tensor(info.ToFloat32(), target.shape);
            target.copy_(source);
        }
        foreach (var (name, t) in NetworkCheckpoint.Tensors(network))
        {
            Copy("master/" + name, t);
            if (optimizer.M.TryGetValue(name, out var m))
            {
                Copy("adam_m/" + name, m);
                Copy("adam_v/" + name, optimizer.V[name]);
            }
        }
    }
}

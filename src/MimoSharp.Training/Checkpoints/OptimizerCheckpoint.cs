using System.Globalization;
using MimoSharp.Checkpoints;
using MimoSharp.Training.Model;
using MimoSharp.Training.Optim;
using static TorchSharp.torch;

namespace MimoSharp.Training.Checkpoints;

/// <summary>
/// The exact-resume part of a training checkpoint: float32 master weights (the model file may be stored in bf16)
/// and the AdamW moments, as master/NAME, adam_m/NAME, adam_v/NAME in one safetensors file.
/// </summary>
public static class OptimizerCheckpoint
{
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
    public static void Load(MimoNetwork network, AdamW optimizer, string path, string run)
    {
        if (!File.Exists(path)) throw new InvalidOperationException($"cannot resume {run}: {path} is missing");
        using var file = SafetensorsFile.Open(path);
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

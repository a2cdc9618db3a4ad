using System.Text.Json;
using System.Text.Json.Nodes;
using MimoSharp.Checkpoints;
using MimoSharp.Config;
using MimoSharp.Model;
using MimoSharp.Tensors;
using MimoSharp.Training.Model;
using static TorchSharp.torch;

namespace MimoSharp.Training.Checkpoints;

/// <summary>Storage dtype of the weights a checkpoint is saved with (router correction biases always stay F32).</summary>
public enum WeightDType
{
    F32,
    BF16,
}

/// <summary>
/// Moves weights between a <see cref="MimoNetwork"/> and a Hugging Face checkpoint folder the engine loads:
/// config.json (Hub key names), model.safetensors (tensor names of spec §8, MTP layers included) and, when given,
/// tokenizer.json. Loading accepts whatever the engine accepts (F32/F16/BF16/block-FP8, one file or shards).
/// </summary>
public static class NetworkCheckpoint
{
    public const string ConfigFileName = "config.json";
    public const string TokenizerFileName = "tokenizer.json";

    /// <summary>Builds a network shaped by the checkpoint's config and MTP tensors and loads its weights as float32.</summary>
    /// <param name="adjustConfig">Changes the checkpoint's config before the network is built, keeping every shape (e.g.
    /// <see cref="ContextExtension"/>'s new RoPE base, which the attention layers fix when they are constructed).</param>
    public static MimoNetwork Load(string directory, Func<MimoConfig, MimoConfig>? adjustConfig = null)
    {
        using var checkpoint = Checkpoint.Open(directory);
        return Load(checkpoint, adjustConfig);
    }

    public static MimoNetwork Load(Checkpoint checkpoint, Func<MimoConfig, MimoConfig>? adjustConfig = null)
    {
        var config = adjustConfig is null ? checkpoint.Config : adjustConfig(checkpoint.Config);
        var network = new MimoNetwork(config, MimoModel.CountMtpLayers(checkpoint));
        try
        {
            CopyWeights(checkpoint, network);
        }
        catch
        {
            network.Dispose();
            throw;
        }
        return network;
    }

    /// <summary>Overwrites every parameter and buffer of <paramref name="network"/> with the checkpoint's tensor of the same name.</summary>
    public static void CopyWeights(Checkpoint checkpoint, MimoNetwork network)
    {
        var names = new HashSet<string>(StringComparer.Ordinal);
        using var _ = no_grad();
        foreach (var (name, target) in Tensors(network))
        {
            names.Add(name);
            var info = checkpoint.Get(name, target.shape);
            float[] values = Decode(checkpoint, info);
            using var source = tensor(values, target.shape);
            target.copy_(source);
        }
        foreach (var name in checkpoint.TensorNames)
            if (!names.Contains(name) && !name.EndsWith("_scale_inv", StringComparison.Ordinal))
                throw new CheckpointException($"{checkpoint.Directory}: tensor {name} has no place in the network described by config.json");
    }

    private static float[] Decode(Checkpoint checkpoint, TensorInfo info)
    {
        if (info.Shape.Length != 2 || info.DType != DType.F8_E4M3) return info.ToFloat32();
        var matrix = checkpoint.Matrix(info.Name);
        var values = new float[(long)matrix.Rows * matrix.Cols];
        var scratch = new float[matrix.Cols];
        for (int r = 0; r < matrix.Rows; r++) matrix.Row(r, scratch).CopyTo(values.AsSpan(r * matrix.Cols, matrix.Cols));
        return values;
    }

    /// <summary>Parameters then buffers, by checkpoint name.</summary>
    public static IEnumerable<(string Name, Tensor Tensor)> Tensors(MimoNetwork network)
    {
        foreach (var (name, p) in network.named_parameters()) yield return (name, p);
        foreach (var (name, b) in network.named_buffers()) yield return (name, b);
    }

    /// <summary>
    /// Writes config.json, model.safetensors and (if given) tokenizer.json into <paramref name="directory"/>.
    /// Each file is written to a temporary name and moved into place, so a crash never leaves half a checkpoint file.
    /// </summary>
    public static void Save(MimoNetwork network, string directory, WeightDType dtype, string? tokenizerPath = null,
        IReadOnlyDictionary<string, string>? metadata = null)
    {
        Directory.CreateDirectory(directory);
        var writer = new SafetensorsWriter();
        writer.AddMetadata("format", "pt");
        if (metadata is not null)
            foreach (var (k, v) in metadata) writer.AddMetadata(k, v);
        foreach (var (name, t) in Tensors(network))
        {
            float[] values = ToArray(t);
            long[] shape = t.shape;
            bool keepF32 = dtype == WeightDType.F32 || name.EndsWith("e_score_correction_bias", StringComparison.Ordinal);
            if (keepF32) writer.AddF32(name, shape, values);
            else writer.AddBF16(name, shape, values);
        }
        writer.Write(Path.Combine(directory, Checkpoint.SingleFileName));
        WriteAtomically(Path.Combine(directory, ConfigFileName), ConfigJson(network.Config, dtype));
        if (tokenizerPath is not null)
        {
            string destination = Path.Combine(directory, TokenizerFileName);
            if (Path.GetFullPath(tokenizerPath) != Path.GetFullPath(destination))
                WriteAtomically(destination, File.ReadAllText(tokenizerPath));
        }
    }

    public static float[] ToArray(Tensor t)
    {
        using var cpu = t.detach().to(ScalarType.Float32).contiguous();
        return cpu.data<float>().ToArray();
    }

    /// <summary>The config in Hub key names: the keys it was read with, torch_dtype set to the stored dtype.</summary>
    public static string ConfigJson(MimoConfig config, WeightDType dtype)
    {
        var raw = (JsonObject?)config.Raw?.DeepClone()
            ?? throw new InvalidOperationException("the network's config has no JSON form to save (MimoConfig.Raw is null)");
        raw["torch_dtype"] = dtype == WeightDType.BF16 ? "bfloat16" : "float32";
        raw.Remove("quantization_config");   // weights are saved dequantised
        return raw.ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + "\n";
    }

    /// <summary>
    /// Deletes the temporary files (NAME.tmp-PID) that a killed save left in the folders a run writes: the run folder,
    /// training/ and training/engine/. Called once the run holds its <see cref="RunLock"/>, so none can be in use.
    /// </summary>
    public static void RemoveStaleTemporaries(string runDirectory)
    {
        foreach (var dir in new[] { runDirectory, Path.Combine(runDirectory, "training"), Path.Combine(runDirectory, "training", "engine") })
            if (Directory.Exists(dir))
                foreach (var file in Directory.EnumerateFiles(dir, "*.tmp-*")) File.Delete(file);
    }

    public static void WriteAtomically(string path, string text)
    {
        string tmp = path + ".tmp-" + Environment.ProcessId;
        File.WriteAllText(tmp, text);
        File.Move(tmp, path, overwrite: true);
    }
}

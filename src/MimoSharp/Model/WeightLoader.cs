using MimoSharp.Checkpoints;
using MimoSharp.Config;
using MimoSharp.Tensors;

namespace MimoSharp.Model;

/// <summary>Resolves named tensors of a checkpoint into the engine's weight types, checking shapes against the config.</summary>
internal sealed class WeightLoader(Checkpoint checkpoint, WeightFormat? quantization = null)
{
    public MimoConfig Config => checkpoint.Config;

    /// <param name="quantizable">False for weights read by lookup or used for decisions (embeddings, router): they stay as stored.</param>
    public WeightMatrix Matrix(string name, int rows, int cols, bool quantizable = true)
    {
        var matrix = checkpoint.Matrix(name, rows, cols);
        if (!quantizable) return matrix;
        if (quantization is WeightFormat q) return matrix.Quantize(q);
        return matrix.Format is WeightFormat.Fp8Block or WeightFormat.BF16 && HasRoomFor(matrix.StoredBytes) ? matrix.PackPanels() : matrix;
    }

    /// <summary>
    /// Whether the machine has memory left for a copy of this size (Linux's MemAvailable, less 1 GiB): FP8 and BF16 panels live in
    /// anonymous memory, so past that point (a checkpoint larger than RAM) matrices stay mapped and are multiplied row
    /// by row as stored, and such a checkpoint still opens.
    /// </summary>
    private static bool HasRoomFor(long bytes)
    {
        if (!OperatingSystem.IsLinux()) return true;
        try
        {
            foreach (string line in File.ReadLines("/proc/meminfo"))
                if (line.StartsWith("MemAvailable:", StringComparison.Ordinal))
                    return long.Parse(line.AsSpan(13).Trim().TrimEnd("kB").Trim()) * 1024 > bytes + (1L << 30);
        }
        catch (IOException)
        {
        }
        return true;
    }

    public float[] Vector(string name, int length)
    {
        var t = checkpoint.Get(name, length);
        if (t.DType is not (DType.F32 or DType.BF16 or DType.F16 or DType.F64))
            throw new CheckpointException($"{t.File}: tensor {name} has dtype {t.DType}, expected a floating-point vector");
        return t.ToFloat32();
    }

    public bool Has(string name) => checkpoint.Contains(name);

    public IEnumerable<string> Names => checkpoint.TensorNames;
}

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
        return quantization is WeightFormat q ? matrix.Quantize(q) : matrix.PackFp8Panels();
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

using System.Runtime.InteropServices;
using MimoSharp.Checkpoints;
using MimoSharp.Tensors;

namespace MimoSharp.Tests.Gguf;

/// <summary>The exact product of a dequantised weight row with a Q8_K activation row (what the K-quant kernels compute).</summary>
internal static class Q8KReference
{
    public static double Dot(ReadOnlySpan<float> weights, ReadOnlySpan<byte> activations)
    {
        double sum = 0;
        for (int b = 0; b < Q4_K.Blocks(weights.Length); b++)
        {
            var block = activations.Slice(b * Q4_K.ActivationBlockBytes, Q4_K.ActivationBlockBytes);
            float d = MemoryMarshal.Read<float>(block);
            var q = MemoryMarshal.Cast<byte, sbyte>(block.Slice(4, Q4_K.BlockValues));
            for (int i = 0; i < Q4_K.BlockValues && b * Q4_K.BlockValues + i < weights.Length; i++)
                sum += (double)weights[b * Q4_K.BlockValues + i] * d * q[i];
        }
        return sum;
    }

    /// <summary>
    /// Multiplies a stored K-quant matrix (rows of ggml blocks) by random inputs through MatMul and checks every output
    /// against <see cref="Dot"/> of its dequantised row; returns the last input as Q8_K, for checks of the kernel parts.
    /// </summary>
    public static unsafe byte[] AssertMatMulMatches(WeightFormat format, byte[] data, int rows, int cols, Random rng, int inputs = 3)
    {
        var x = Enumerable.Range(0, inputs * cols).Select(_ => (float)(rng.NextDouble() * 4 - 2)).ToArray();
        var y = new float[inputs * rows];
        var xq = new byte[Q4_K.ActivationRowBytes(cols)];
        fixed (byte* p = data)
        {
            var info = new TensorInfo { Name = "w", DType = DType.U8, Shape = [rows, cols], File = "memory", Data = p, ByteLength = data.Length, BlockFormat = format };
            var w = WeightMatrix.From(info, null, null);
            MatMul.Compute(w, x, inputs, y);
            var wd = new float[cols];
            for (int t = 0; t < inputs; t++)
            {
                Q4_K.QuantizeActivations(x.AsSpan(t * cols, cols), xq);
                for (int r = 0; r < rows; r++)
                {
                    double reference = Dot(w.Row(r, wd), xq);
                    Assert.InRange(Math.Abs(y[t * rows + r] - reference), 0, 1e-5 * Math.Max(1, Math.Abs(reference)));
                }
            }
        }
        return xq;
    }
}

using System.Runtime.InteropServices;
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
}

using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace MimoSharp.Tensors;

/// <summary>
/// float16 → float32 by table lookup (256 KiB, stays in L2), as ggml does on x86: a block scale is converted once
/// per block per row in the quantised dot products, and .NET's Half conversion is a software routine.
/// </summary>
public static class HalfTable
{
    private static readonly float[] Table = Build();

    private static float[] Build()
    {
        var table = new float[65536];
        for (int bits = 0; bits < table.Length; bits++) table[bits] = (float)BitConverter.UInt16BitsToHalf((ushort)bits);
        return table;
    }

    /// <summary>The float16 stored at <paramref name="source"/> (unaligned), as float32; exact.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Read(ref byte source) =>
        Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(Table), Unsafe.ReadUnaligned<ushort>(ref source));
}

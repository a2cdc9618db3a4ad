using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace MimoSharp.Tensors;

/// <summary>
/// The panels' f16 block scales read without a conversion instruction (.NET exposes no F16C): an f16's bits
/// sign-extended and shifted into a float32 give its value times 2^-112, exactly for every finite f16 (subnormals
/// included). Multiplying by something that carries the 2^112 (<see cref="Bias"/>) restores the value exactly.
/// </summary>
internal static unsafe class ScaledHalf
{
    /// <summary>2^112.</summary>
    public const float Bias = 5.192297e33f;

    private const int Mask = unchecked((int)0x8FFFE000);

    /// <summary>The f16 <paramref name="half"/> times 2^-112.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Read(short half) => BitConverter.Int32BitsToSingle((half << 13) & Mask);

    /// <summary>Sixteen f16 at <paramref name="p"/>, each times 2^-112.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Read16(byte* p) =>
        (Avx512F.ShiftLeftLogical(Avx512F.ConvertToVector512Int32(Vector256.Load((short*)p)), 13) & Vector512.Create(Mask)).AsSingle();

    /// <summary>Eight f16 at <paramref name="p"/>, each times 2^-112.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Read8(byte* p) =>
        (Avx2.ShiftLeftLogical(Avx2.ConvertToVector256Int32((short*)p), 13) & Vector256.Create(Mask)).AsSingle();
}

using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace MimoSharp.Tensors;

/// <summary>
/// bfloat16 weights repacked at load into panels of 16 rows (the 16-bit values unchanged), multiplied by the shared
/// float panel kernels (<see cref="FloatPanel{TFormat}"/>, as <see cref="Fp8Panel"/>). Within a panel, each group of 4
/// columns is 128 bytes, two 64-byte halves for column phases 0–1 and 2–3: in each, row i's 32-bit lane holds its
/// weight of the even phase in the low half and of the odd phase in the high half. A bfloat16 is the top half of a
/// float32, so one shift left by 16 makes the even column's 16 float32s and one mask of the low half the odd column's:
/// 4 instructions per 64 weights, exact (subnormals, infinities and NaN included), no scale.
/// </summary>
public static unsafe class Bf16Panel
{
    public const int Rows = FloatPanel<Format>.Rows;

    /// <summary>Use the AVX-512 kernels where the CPU has them (tests switch them off to compare paths).</summary>
    internal static bool Avx512Enabled { get; set; } = Avx512F.IsSupported;

    /// <summary>Use AVX2 for the portable path where the CPU has it.</summary>
    internal static bool Avx2Enabled { get; set; } = Avx2.IsSupported && Fma.IsSupported;

    public static int Panels(int rows) => FloatPanel<Format>.Panels(rows);

    public static long Bytes(int rows, int cols) => FloatPanel<Format>.Bytes(rows, cols);

    /// <summary>Offset of row <paramref name="lane"/>'s value for column phase <paramref name="j"/> within a group.</summary>
    private static int Offset(int lane, int j) => 64 * (j / 2) + 4 * lane + 2 * (j % 2);

    /// <summary>Reads row <paramref name="r"/> back as bfloat16 bits (the inverse of the packing).</summary>
    public static void UnpackRow(byte* packed, int r, int cols, Span<ushort> row) => FloatPanel<Format>.UnpackRow(packed, r, cols, row);

    /// <summary>y[t, r] for panels p0..p1 and n inputs of <paramref name="x"/>, rows of y <c>w.Rows</c> apart.</summary>
    public static void Multiply(WeightMatrix w, float* x, int n, float* y, int p0, int p1) =>
        FloatPanel<Format>.Multiply(w, w.PanelData, x, n, y, p0, p1);

    private const uint HighHalf = 0xFFFF0000;

    /// <summary>The bfloat16 widening for the shared kernels; its field is the high-half mask, kept in a register.</summary>
    internal readonly struct Format(Vector512<uint> high) : IFloatPanelFormat<Format>
    {
        public static int GroupBytes => 128;
        public static int Offset(int lane, int j) => Bf16Panel.Offset(lane, j);
        public static bool UseAvx512 => Avx512Enabled;
        public static bool UseAvx2 => Avx2Enabled;
        public static float DecodeFactor => 1f;
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Format Decoder() => new(Vector512.Create(HighHalf));

        /// <summary>No scales: every panel takes the same inputs, copied once with the columns' zero padding.</summary>
        public static nint InputKey(WeightMatrix w, int p) => 1;

        public static bool ScaleInputs(WeightMatrix w, int p, float* x, int n, int padded, float* xs, bool prescale)
        {
            int cols = w.Cols;
            for (int t = 0; t < n; t++)
            {
                new ReadOnlySpan<float>(x + (long)t * cols, cols).CopyTo(new Span<float>(xs + (long)t * padded, cols));
                new Span<float>(xs + (long)t * padded + cols, padded - cols).Clear();
            }
            return true; // the decode factor is 1: nothing to pre-scale
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Decode512(byte* group, out Vector512<float> w0, out Vector512<float> w1, out Vector512<float> w2, out Vector512<float> w3)
        {
            var even = Vector512.Load((uint*)group);
            var odd = Vector512.Load((uint*)(group + 64));
            w0 = Avx512F.ShiftLeftLogical(even, 16).AsSingle();
            w1 = Avx512F.And(even, high).AsSingle();
            w2 = Avx512F.ShiftLeftLogical(odd, 16).AsSingle();
            w3 = Avx512F.And(odd, high).AsSingle();
        }

        /// <summary>The same widening with AVX2 (8-row halves of each 64-byte half) or per value.</summary>
        public static void DecodePortable(byte* group, float* dst)
        {
            for (int j = 0; j < 4; j++, dst += Rows)
            {
                if (Avx2Enabled)
                {
                    for (int h = 0; h < 2; h++)
                    {
                        var lanes = Vector256.Load((uint*)(group + 64 * (j / 2) + 32 * h));
                        var bits = j % 2 == 0 ? Avx2.ShiftLeftLogical(lanes, 16) : Avx2.And(lanes, Vector256.Create(HighHalf));
                        bits.AsSingle().Store(dst + 8 * h);
                    }
                }
                else
                {
                    for (int i = 0; i < Rows; i++) dst[i] = BFloat16.ToFloat(*(ushort*)(group + Bf16Panel.Offset(i, j)));
                }
            }
        }
    }
}

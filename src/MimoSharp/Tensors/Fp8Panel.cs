using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace MimoSharp.Tensors;

/// <summary>
/// FP8 e4m3 weights repacked at load into panels of 16 rows (the bytes unchanged, one per weight), multiplied by the
/// shared float panel kernels (<see cref="FloatPanel{TFormat}"/>, the Q8_0 panels' scheme). Within a panel, each group of
/// 4 columns is 64 bytes: row i's byte for column 4g + j sits at <c>16·(i / 4) + 4·j + i % 4</c>, which is where
/// AVX-512's in-lane byte and word unpacks put row i of column j.
/// <para>
/// Decoding 64 weights takes 8 shuffle-class instructions: two GFNI affine byte transforms give each weight's two
/// upper float32 bytes (<c>e0·2^7 + m·2^4</c> and <c>s·2^7 + e3e2e1</c>, i.e. the float32 bit pattern of
/// value · 2^-120, subnormals included), two byte unpacks pair them into 16-bit halves, four word unpacks with zero
/// make the float32s. The shift decode of <see cref="Fp8Block"/> needs 12 for the same 64 (a sign extension, a shift
/// and a mask per 16), which is what bounded it.
/// </para>
/// <para>
/// The block scale goes on the input (<c>xs[c] = x[c] · scale[r, c / BlockCols]</c>, every row of a panel sharing one
/// row of scales), and so does the 2^-120 where that is exact; the order of sums is the shared kernels'. A row holding
/// an e4m3 NaN code gives NaN.
/// </para>
/// </summary>
public static unsafe class Fp8Panel
{
    public const int Rows = FloatPanel<Format>.Rows;

    /// <summary>Use the AVX-512 (BW + GFNI) kernels where the CPU has them (tests switch them off to compare paths).</summary>
    internal static bool Avx512Enabled { get; set; } = Avx512BW.IsSupported && Gfni.V512.IsSupported;

    /// <summary>Use AVX2 for the portable path where the CPU has it.</summary>
    internal static bool Avx2Enabled { get; set; } = Avx2.IsSupported && Fma.IsSupported;

    public static int Panels(int rows) => FloatPanel<Format>.Panels(rows);

    public static long Bytes(int rows, int cols) => FloatPanel<Format>.Bytes(rows, cols);

    /// <summary>Offset of row <paramref name="lane"/>'s byte for column phase <paramref name="j"/> within a group.</summary>
    private static int Offset(int lane, int j) => 16 * (lane / 4) + 4 * j + lane % 4;

    /// <summary>Reads row <paramref name="r"/> back as e4m3 bytes (the inverse of the packing).</summary>
    public static void UnpackRow(byte* packed, int r, int cols, Span<byte> row) => FloatPanel<Format>.UnpackRow(packed, r, cols, row);

    /// <summary>y[t, r] for panels p0..p1 and n inputs of <paramref name="x"/>, rows of y <c>w.Rows</c> apart.</summary>
    public static void Multiply(WeightMatrix w, float* x, int n, float* y, int p0, int p1)
    {
        FloatPanel<Format>.Multiply(w, w.PanelData, x, n, y, p0, p1);
        int r0 = p0 * Rows, r1 = Math.Min(w.Rows, p1 * Rows);
        foreach (int r in w.Fp8NanRows)
            if (r >= r0 && r < r1)
                for (int t = 0; t < n; t++) y[(long)t * w.Rows + r] = float.NaN;
    }

    /// <summary>GFNI matrices (result bit i = parity of the byte and matrix byte 7 - i) giving float32 bytes 2 and 3.</summary>
    private static readonly ulong Byte2Matrix = BitMatrix(i => i >= 4 ? i - 4 : -1);                  // (b << 4) & 0xF0
    private static readonly ulong Byte3Matrix = BitMatrix(i => i == 7 ? 7 : i <= 2 ? i + 4 : -1);     // (b & 0x80) | ((b >> 4) & 7)

    private static ulong BitMatrix(Func<int, int> sourceBit)
    {
        ulong m = 0;
        for (int i = 0; i < 8; i++)
            if (sourceBit(i) is int s and >= 0) m |= (ulong)(1 << s) << (8 * (7 - i));
        return m;
    }

    private const int Fp8Mask = unchecked((int)0x87F00000); // sign, then e4m3's exponent and mantissa under float32's

    /// <summary>The e4m3 decoding for the shared kernels; its fields are the GFNI matrices, kept in registers.</summary>
    internal readonly struct Format(Vector512<byte> m2, Vector512<byte> m3) : IFloatPanelFormat<Format>
    {
        public static int GroupBytes => 64;
        public static int Offset(int lane, int j) => Fp8Panel.Offset(lane, j);
        public static bool UseAvx512 => Avx512Enabled;
        public static bool UseAvx2 => Avx2Enabled;
        public static float DecodeFactor => Fp8Block.TwoTo120;
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Format Decoder() => new(Vector512.Create(Byte2Matrix).AsByte(), Vector512.Create(Byte3Matrix).AsByte());

        /// <summary>The scale row pointer: panels sharing a row of block scales share the scaled inputs.</summary>
        public static nint InputKey(WeightMatrix w, int p) => (nint)w.ScaleRow(p * Rows);

        public static bool ScaleInputs(WeightMatrix w, int p, float* x, int n, int padded, float* xs, bool prescale) =>
            Fp8Block.ScaleInputs(x, n, w.Cols, padded, w.BlockCols, w.ScaleRow(p * Rows), xs, prescale);

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Decode512(byte* group, out Vector512<float> w0, out Vector512<float> w1, out Vector512<float> w2, out Vector512<float> w3)
        {
            var raw = Vector512.Load(group);
            var b2 = Gfni.V512.GaloisFieldAffineTransform(raw, m2, 0);
            var b3 = Gfni.V512.GaloisFieldAffineTransform(raw, m3, 0);
            var low = Avx512BW.UnpackLow(b2, b3).AsUInt16();
            var high = Avx512BW.UnpackHigh(b2, b3).AsUInt16();
            w0 = Avx512BW.UnpackLow(Vector512<ushort>.Zero, low).AsSingle();
            w1 = Avx512BW.UnpackHigh(Vector512<ushort>.Zero, low).AsSingle();
            w2 = Avx512BW.UnpackLow(Vector512<ushort>.Zero, high).AsSingle();
            w3 = Avx512BW.UnpackHigh(Vector512<ushort>.Zero, high).AsSingle();
        }

        /// <summary>The same decode without GFNI: each 8-row half of a column sign-extended, shifted and masked (AVX2), or per byte.</summary>
        public static void DecodePortable(byte* group, float* dst)
        {
            for (int j = 0; j < 4; j++, dst += Rows)
            {
                if (Avx2Enabled)
                {
                    for (int h = 0; h < 2; h++)
                    {
                        // Rows 8h..8h+3 and 8h+4..8h+7 of phase j are two 4-byte runs 16 bytes apart.
                        var bytes = Vector128.Create(*(int*)(group + 32 * h + 4 * j), *(int*)(group + 32 * h + 16 + 4 * j), 0, 0).AsSByte();
                        var bits = Avx2.And(Avx2.ShiftLeftLogical(Avx2.ConvertToVector256Int32(bytes), 20), Vector256.Create(Fp8Mask));
                        (bits.AsSingle() * Vector256.Create(Fp8Block.TwoTo120)).Store(dst + 8 * h);
                    }
                }
                else
                {
                    for (int i = 0; i < Rows; i++) dst[i] = Fp8E4M3.Table[group[Fp8Panel.Offset(i, j)]];
                }
            }
        }
    }
}

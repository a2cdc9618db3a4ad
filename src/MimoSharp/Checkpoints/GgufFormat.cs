namespace MimoSharp.Checkpoints;

/// <summary>Types of GGUF metadata values (the numbering of ggml's gguf_type).</summary>
public enum GgufValueType : uint
{
    UInt8 = 0,
    Int8 = 1,
    UInt16 = 2,
    Int16 = 3,
    UInt32 = 4,
    Int32 = 5,
    Float32 = 6,
    Bool = 7,
    String = 8,
    Array = 9,
    UInt64 = 10,
    Int64 = 11,
    Float64 = 12,
}

/// <summary>Tensor element types of ggml (the numbering of ggml_type) that this engine reads or writes.</summary>
public enum GgmlType : uint
{
    F32 = 0,
    F16 = 1,
    Q4_0 = 2,
    Q4_1 = 3,
    Q5_0 = 6,
    Q5_1 = 7,
    Q8_0 = 8,
    Q8_1 = 9,
    Q2_K = 10,
    Q3_K = 11,
    Q4_K = 12,
    Q5_K = 13,
    Q6_K = 14,
    Q8_K = 15,
    BF16 = 30,
}

/// <summary>A metadata array: the element type and the values (long, ulong, double, bool or string per element type).</summary>
public sealed record GgufArray(GgufValueType ElementType, Array Items)
{
    public int Count => Items.Length;
}

/// <summary>The fixed parts of the GGUF container (version 3, little-endian).</summary>
public static class Gguf
{
    /// <summary>"GGUF" read as a little-endian uint32.</summary>
    public const uint Magic = 0x46554747;

    public const uint Version = 3;

    /// <summary>Data alignment when general.alignment is absent.</summary>
    public const int DefaultAlignment = 32;

    /// <summary>llama.cpp's file type codes (general.file_type), for the formats we write.</summary>
    public static uint FileType(GgmlType matrices) => matrices switch
    {
        GgmlType.F32 => 0,
        GgmlType.F16 => 1,
        GgmlType.Q8_0 => 7,
        GgmlType.Q4_K => 15, // MOSTLY_Q4_K_M: llama.cpp's name for "Q4_K with some tensors kept finer"
        GgmlType.BF16 => 32,
        _ => throw new ArgumentOutOfRangeException(nameof(matrices), matrices, "no file type for this format"),
    };

    /// <summary>Values per block and bytes per block of a ggml type.</summary>
    public static (int Values, int Bytes) BlockOf(GgmlType type) => type switch
    {
        GgmlType.F32 => (1, 4),
        GgmlType.F16 or GgmlType.BF16 => (1, 2),
        GgmlType.Q4_0 => (32, 18),
        GgmlType.Q4_1 => (32, 20),
        GgmlType.Q5_0 => (32, 22),
        GgmlType.Q5_1 => (32, 24),
        GgmlType.Q8_0 => (32, 34),
        GgmlType.Q8_1 => (32, 36),
        GgmlType.Q2_K => (256, 84),
        GgmlType.Q3_K => (256, 110),
        GgmlType.Q4_K => (256, 144),
        GgmlType.Q5_K => (256, 176),
        GgmlType.Q6_K => (256, 210),
        GgmlType.Q8_K => (256, 292),
        _ => throw new ArgumentOutOfRangeException(nameof(type), type, "unknown ggml type"),
    };

    public static bool IsKnown(GgmlType type) => Enum.IsDefined(type);

    /// <summary>Bytes of one row of <paramref name="cols"/> values; cols must be a whole number of blocks.</summary>
    public static long RowBytes(GgmlType type, long cols)
    {
        var (values, bytes) = BlockOf(type);
        if (cols % values != 0)
            throw new ArgumentException($"{type} needs rows of a multiple of {values} values, got {cols}");
        return cols / values * bytes;
    }

    /// <summary>Whether a row of <paramref name="cols"/> values fits a whole number of blocks of <paramref name="type"/>.</summary>
    public static bool FitsRow(GgmlType type, long cols) => cols % BlockOf(type).Values == 0;

    public static long Align(long offset, int alignment) => (offset + alignment - 1) / alignment * alignment;
}

namespace MimoSharp.Checkpoints;

/// <summary>Element types a safetensors file may store (the subset this engine reads).</summary>
public enum DType
{
    F64,
    F32,
    F16,
    BF16,
    F8_E4M3,
    I64,
    I32,
    U8,
}

public static class DTypes
{
    public static int SizeOf(DType t) => t switch
    {
        DType.F64 or DType.I64 => 8,
        DType.F32 or DType.I32 => 4,
        DType.F16 or DType.BF16 => 2,
        DType.F8_E4M3 or DType.U8 => 1,
        _ => throw new ArgumentOutOfRangeException(nameof(t)),
    };

    public static bool TryParse(string name, out DType type)
    {
        switch (name)
        {
            case "F64": type = DType.F64; return true;
            case "F32": type = DType.F32; return true;
            case "F16": type = DType.F16; return true;
            case "BF16": type = DType.BF16; return true;
            case "F8_E4M3": type = DType.F8_E4M3; return true;
            case "I64": type = DType.I64; return true;
            case "I32": type = DType.I32; return true;
            case "U8": type = DType.U8; return true;
            default: type = default; return false;
        }
    }

    public static string Name(DType t) => t.ToString();
}

namespace MimoSharp.Checkpoints;

/// <summary>One tensor as a safetensors header describes it, and where its bytes live.</summary>
public sealed unsafe class TensorInfo
{
    public required string Name { get; init; }
    public required DType DType { get; init; }
    public required long[] Shape { get; init; }
    public required string File { get; init; }

    /// <summary>First byte of the tensor's data inside the memory-mapped file.</summary>
    internal byte* Data { get; init; }

    public long ByteLength { get; init; }

    /// <summary>Whether <see cref="Data"/> lies in a read-only file mapping, whose pages may be dropped and read again.</summary>
    internal bool Mapped { get; init; }

    /// <summary>Set for a matrix stored in a ggml block format (from a GGUF file): the bytes are its rows of blocks.</summary>
    internal Tensors.WeightFormat? BlockFormat { get; init; }

    public long ElementCount
    {
        get
        {
            long n = 1;
            foreach (var d in Shape) n *= d;
            return n;
        }
    }

    public string ShapeText => "[" + string.Join(", ", Shape) + "]";

    public ReadOnlySpan<byte> Bytes
    {
        get
        {
            if (ByteLength > int.MaxValue)
                throw new InvalidOperationException($"tensor {Name} is over 2 GiB; read it through its pointer");
            return new ReadOnlySpan<byte>(Data, (int)ByteLength);
        }
    }

    /// <summary>Decodes the whole tensor to float32 (for small tensors: norms, biases, test expectations).</summary>
    public float[] ToFloat32()
    {
        var result = new float[ElementCount];
        var src = Bytes;
        switch (DType)
        {
            case DType.F32:
                System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(src).CopyTo(result);
                break;
            case DType.F64:
                var d = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, double>(src);
                for (int i = 0; i < result.Length; i++) result[i] = (float)d[i];
                break;
            case DType.BF16:
                var b = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, ushort>(src);
                for (int i = 0; i < result.Length; i++) result[i] = BitConverter.Int32BitsToSingle(b[i] << 16);
                break;
            case DType.F16:
                var h = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, Half>(src);
                for (int i = 0; i < result.Length; i++) result[i] = (float)h[i];
                break;
            case DType.F8_E4M3:
                for (int i = 0; i < result.Length; i++) result[i] = Tensors.Fp8E4M3.ToFloat(src[i]);
                break;
            default:
                throw new CheckpointException($"tensor {Name} has dtype {DType}, which is not a floating-point type");
        }
        return result;
    }

    /// <summary>Decodes the whole tensor to float64 (test expectations are stored as F64).</summary>
    public double[] ToFloat64()
    {
        if (DType == DType.F64)
            return System.Runtime.InteropServices.MemoryMarshal.Cast<byte, double>(Bytes).ToArray();
        if (DType == DType.I64)
            return System.Runtime.InteropServices.MemoryMarshal.Cast<byte, long>(Bytes).ToArray().Select(x => (double)x).ToArray();
        return ToFloat32().Select(x => (double)x).ToArray();
    }

    public long[] ToInt64()
    {
        return DType switch
        {
            DType.I64 => System.Runtime.InteropServices.MemoryMarshal.Cast<byte, long>(Bytes).ToArray(),
            DType.I32 => System.Runtime.InteropServices.MemoryMarshal.Cast<byte, int>(Bytes).ToArray().Select(x => (long)x).ToArray(),
            _ => throw new CheckpointException($"tensor {Name} has dtype {DType}, expected an integer type"),
        };
    }
}

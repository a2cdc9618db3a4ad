using System.Text;

namespace MimoSharp.Checkpoints;

/// <summary>One tensor of a GGUF file: its name, ggml dimensions (ne[0] = values per row first) and type.</summary>
public sealed unsafe class GgufTensor
{
    public required string Name { get; init; }

    /// <summary>ggml order: Dims[0] is the number of values in a row, Dims[1] the number of rows, Dims[2] the matrices.</summary>
    public required long[] Dims { get; init; }

    public required GgmlType Type { get; init; }

    /// <summary>Offset of the data from the start of the data section.</summary>
    public required long Offset { get; init; }

    public required long ByteLength { get; init; }

    internal byte* Data { get; init; }

    public long ElementCount
    {
        get
        {
            long n = 1;
            foreach (var d in Dims) n *= d;
            return n;
        }
    }

    public string DimsText => "[" + string.Join(", ", Dims) + "]";
}

/// <summary>
/// A memory-mapped GGUF file (version 2 or 3): a header, typed key/value metadata, tensor descriptions,
/// then the aligned tensor data. Every length and offset is checked against the file before use, so a
/// truncated or corrupt file is an error that names what is wrong rather than a crash.
/// </summary>
public sealed unsafe class GgufFile : IDisposable
{
    private readonly MappedFile _file;

    public string Path { get; }
    public uint Version { get; }
    public int Alignment { get; }
    public IReadOnlyDictionary<string, object> Metadata { get; }
    public IReadOnlyList<GgufTensor> TensorList { get; }
    public IReadOnlyDictionary<string, GgufTensor> Tensors { get; }

    private GgufFile(string path, MappedFile file, uint version, int alignment,
        Dictionary<string, object> metadata, List<GgufTensor> tensors)
    {
        Path = path;
        _file = file;
        Version = version;
        Alignment = alignment;
        Metadata = metadata;
        TensorList = tensors;
        Tensors = tensors.ToDictionary(t => t.Name, StringComparer.Ordinal);
    }

    /// <summary>Whether the file starts with the GGUF magic (false for folders and other files).</summary>
    public static bool IsGguf(string path)
    {
        if (!File.Exists(path)) return false;
        using var f = File.OpenRead(path);
        Span<byte> magic = stackalloc byte[4];
        return f.Read(magic) == 4 && BitConverter.ToUInt32(magic) == Gguf.Magic;
    }

    public static GgufFile Open(string path)
    {
        if (!File.Exists(path))
            throw new CheckpointException($"{path}: GGUF file not found");
        if (!BitConverter.IsLittleEndian)
            throw new PlatformNotSupportedException("GGUF reading needs a little-endian machine");
        long length = MappedFile.LengthOf(path);
        if (length < 24)
            throw new CheckpointException($"{path}: file is {length} bytes, too short for a GGUF header (truncated download?)");
        var file = MappedFile.Open(path, length);
        byte* basePtr = file.Pointer;
        try
        {
            var reader = new Reader(path, basePtr, length);
            uint magic = reader.U32("magic");
            if (magic != Gguf.Magic)
                throw new CheckpointException($"{path}: not a GGUF file (magic 0x{magic:X8}, expected \"GGUF\")");
            uint version = reader.U32("version");
            if (version is not (2 or 3))
                throw new CheckpointException($"{path}: GGUF version {version} is not supported (expected 2 or 3)");
            long tensorCount = reader.Count("tensor count");
            long kvCount = reader.Count("metadata count");

            var metadata = new Dictionary<string, object>(StringComparer.Ordinal);
            for (long i = 0; i < kvCount; i++)
            {
                string key = reader.String("metadata key");
                var type = (GgufValueType)reader.U32($"type of {key}");
                metadata[key] = reader.Value(type, key);
            }

            int alignment = Gguf.DefaultAlignment;
            if (metadata.TryGetValue("general.alignment", out var a))
            {
                long al = a switch
                {
                    long l => l,
                    ulong u when u <= int.MaxValue => (long)u,
                    _ => throw new CheckpointException($"{path}: general.alignment is {a}, expected a power of two"),
                };
                if (al <= 0 || (al & (al - 1)) != 0 || al > 1 << 20)
                    throw new CheckpointException($"{path}: general.alignment is {al}, expected a power of two");
                alignment = (int)al;
            }

            var infos = new List<(string Name, long[] Dims, GgmlType Type, ulong Offset)>();
            for (long i = 0; i < tensorCount; i++)
            {
                string name = reader.String("tensor name");
                uint nDims = reader.U32($"dimension count of {name}");
                if (nDims is 0 or > 4)
                    throw new CheckpointException($"{path}: tensor {name} has {nDims} dimensions (expected 1 to 4)");
                var dims = new long[nDims];
                for (int d = 0; d < nDims; d++)
                {
                    ulong dim = reader.U64($"dimension {d} of {name}");
                    if (dim == 0 || dim > int.MaxValue)
                        throw new CheckpointException($"{path}: tensor {name} has dimension {d} = {dim}");
                    dims[d] = (long)dim;
                }
                var type = (GgmlType)reader.U32($"type of {name}");
                ulong offset = reader.U64($"offset of {name}");
                infos.Add((name, dims, type, offset));
            }
            long dataStart = Gguf.Align(reader.Position, alignment);

            var tensors = new List<GgufTensor>(infos.Count);
            var names = new HashSet<string>(StringComparer.Ordinal);
            foreach (var (name, dims, type, offset) in infos)
            {
                if (!names.Add(name)) throw new CheckpointException($"{path}: tensor {name} appears twice");
                if (!Gguf.IsKnown(type))
                    throw new CheckpointException($"{path}: tensor {name} has ggml type {(uint)type}, which this reader does not know");
                var (values, bytes) = Gguf.BlockOf(type);
                if (dims[0] % values != 0)
                    throw new CheckpointException($"{path}: tensor {name} ({type}) has rows of {dims[0]} values, not a multiple of its block of {values}");
                // Dimensions are each ≤ 2^31, so products are bounded by division before they are formed.
                long rows = 1;
                for (int d = 1; d < dims.Length; d++)
                {
                    if (rows > length / dims[d])
                        throw new CheckpointException($"{path}: tensor {name} has dimensions {string.Join("x", dims)}, more than the {length}-byte file could hold");
                    rows *= dims[d];
                }
                long rowBytes = dims[0] / values * bytes;
                if (rows > length / Math.Max(1, rowBytes))
                    throw new CheckpointException($"{path}: tensor {name} has dimensions {string.Join("x", dims)}, more than the {length}-byte file could hold");
                long byteLength = rowBytes * rows;
                if (offset % (ulong)alignment != 0)
                    throw new CheckpointException($"{path}: tensor {name} starts at data offset {offset}, not a multiple of the alignment {alignment}");
                // In unsigned terms first: an offset past 2^63 would turn negative as a long and point before the file.
                if (offset > (ulong)Math.Max(0, length - dataStart) || byteLength > length - dataStart - (long)offset)
                    throw new CheckpointException(
                        $"{path}: tensor {name} ({type} {string.Join("x", dims)}, {byteLength} bytes at data offset {offset}) runs past the end of the {length}-byte file (truncated download?)");
                tensors.Add(new GgufTensor
                {
                    Name = name,
                    Dims = dims,
                    Type = type,
                    Offset = (long)offset,
                    ByteLength = byteLength,
                    Data = basePtr + dataStart + (long)offset,
                });
            }
            var sorted = tensors.OrderBy(t => t.Offset).ToList();
            for (int i = 1; i < sorted.Count; i++)
                if (sorted[i].Offset < sorted[i - 1].Offset + sorted[i - 1].ByteLength)
                    throw new CheckpointException($"{path}: tensors {sorted[i - 1].Name} and {sorted[i].Name} overlap in the data section (corrupt file)");
            return new GgufFile(path, file, version, alignment, metadata, tensors);
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    /// <summary>Raw bytes of a tensor (for tensors under 2 GiB).</summary>
    public ReadOnlySpan<byte> Bytes(GgufTensor t)
    {
        if (t.ByteLength > int.MaxValue) throw new InvalidOperationException($"tensor {t.Name} is over 2 GiB; read it through its pointer");
        return new ReadOnlySpan<byte>(t.Data, (int)t.ByteLength);
    }

    public bool Has(string key) => Metadata.ContainsKey(key);

    public string? String(string key) => Metadata.GetValueOrDefault(key) switch
    {
        null => null,
        string s => s,
        var v => throw new CheckpointException($"{Path}: metadata {key} is {Describe(v)}, expected a string"),
    };

    public long? Int(string key) => Metadata.GetValueOrDefault(key) switch
    {
        null => null,
        long l => l,
        ulong u when u <= long.MaxValue => (long)u,
        bool b => b ? 1 : 0,
        var v => throw new CheckpointException($"{Path}: metadata {key} is {Describe(v)}, expected an integer"),
    };

    public double? Float(string key) => Metadata.GetValueOrDefault(key) switch
    {
        null => null,
        double d => d,
        long l => l,
        ulong u => u,
        var v => throw new CheckpointException($"{Path}: metadata {key} is {Describe(v)}, expected a number"),
    };

    public bool? Bool(string key) => Metadata.GetValueOrDefault(key) switch
    {
        null => null,
        bool b => b,
        long l => l != 0,
        ulong u => u != 0,
        var v => throw new CheckpointException($"{Path}: metadata {key} is {Describe(v)}, expected true or false"),
    };

    public GgufArray? Array(string key) => Metadata.GetValueOrDefault(key) switch
    {
        null => null,
        GgufArray a => a,
        var v => throw new CheckpointException($"{Path}: metadata {key} is {Describe(v)}, expected an array"),
    };

    /// <summary>An integer key given either once for every layer or as one value per layer.</summary>
    public long[]? IntPerLayer(string key, int layers)
    {
        if (!Metadata.TryGetValue(key, out var v)) return null;
        if (v is not GgufArray a) return Enumerable.Repeat(Int(key)!.Value, layers).ToArray();
        if (a.Count < layers)
            throw new CheckpointException($"{Path}: metadata {key} has {a.Count} entries, expected one per layer ({layers})");
        var result = new long[layers];
        for (int i = 0; i < layers; i++)
            result[i] = a.Items.GetValue(i) switch
            {
                long l => l,
                ulong u => (long)u,
                bool b => b ? 1 : 0,
                var x => throw new CheckpointException($"{Path}: metadata {key}[{i}] is {Describe(x!)}, expected an integer"),
            };
        return result;
    }

    private static string Describe(object v) => v switch
    {
        GgufArray a => $"an array of {a.Count} {a.ElementType}",
        string => "a string",
        bool => "a bool",
        double => "a float",
        _ => "an integer",
    };

    public void Dispose() => _file.Dispose();


    /// <summary>Bounds-checked cursor over the header.</summary>
    private ref struct Reader(string path, byte* data, long length)
    {
        public long Position { get; private set; }

        private void Need(long n, string what)
        {
            if (n < 0 || Position + n > length)
                throw new CheckpointException($"{path}: header runs past the end of the {length}-byte file while reading {what} (truncated or corrupt)");
        }

        public uint U32(string what)
        {
            Need(4, what);
            uint v = *(uint*)(data + Position);
            Position += 4;
            return v;
        }

        public ulong U64(string what)
        {
            Need(8, what);
            ulong v = *(ulong*)(data + Position);
            Position += 8;
            return v;
        }

        public long Count(string what)
        {
            ulong n = U64(what);
            if (n > (ulong)length) throw new CheckpointException($"{path}: {what} is {n}, more than the file could hold (corrupt header)");
            return (long)n;
        }

        public string String(string what)
        {
            long n = Count($"length of {what}");
            Need(n, what);
            if (n > int.MaxValue) throw new CheckpointException($"{path}: {what} is {n} bytes long (corrupt header)");
            string s = Encoding.UTF8.GetString(data + Position, (int)n);
            Position += n;
            return s;
        }

        public object Value(GgufValueType type, string key)
        {
            switch (type)
            {
                case GgufValueType.Array:
                    {
                        var elem = (GgufValueType)U32($"element type of {key}");
                        long n = Count($"length of {key}");
                        if (elem == GgufValueType.Array)
                            throw new CheckpointException($"{path}: metadata {key} is an array of arrays, which this reader does not support");
                        System.Array items = elem switch
                        {
                            GgufValueType.String => new string[n],
                            GgufValueType.Bool => new bool[n],
                            GgufValueType.Float32 or GgufValueType.Float64 => new double[n],
                            GgufValueType.UInt64 => new ulong[n],
                            _ => new long[n],
                        };
                        for (long i = 0; i < n; i++) items.SetValue(Value(elem, key), i);
                        return new GgufArray(elem, items);
                    }
                case GgufValueType.String: return String(key);
                case GgufValueType.Bool: Need(1, key); return data[Position++] != 0;
                case GgufValueType.UInt8: Need(1, key); return (long)data[Position++];
                case GgufValueType.Int8: Need(1, key); return (long)(sbyte)data[Position++];
                case GgufValueType.UInt16: Need(2, key); Position += 2; return (long)*(ushort*)(data + Position - 2);
                case GgufValueType.Int16: Need(2, key); Position += 2; return (long)*(short*)(data + Position - 2);
                case GgufValueType.UInt32: return (long)U32(key);
                case GgufValueType.Int32: return (long)(int)U32(key);
                case GgufValueType.Float32: Need(4, key); Position += 4; return (double)*(float*)(data + Position - 4);
                case GgufValueType.UInt64: return U64(key);
                case GgufValueType.Int64: return (long)U64(key);
                case GgufValueType.Float64: Need(8, key); Position += 8; return *(double*)(data + Position - 8);
                default:
                    throw new CheckpointException($"{path}: metadata {key} has unknown value type {(uint)type} (corrupt header)");
            }
        }
    }
}

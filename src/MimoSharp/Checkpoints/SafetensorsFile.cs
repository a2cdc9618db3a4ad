using System.Text.Json;

namespace MimoSharp.Checkpoints;

/// <summary>
/// One memory-mapped safetensors file: an 8-byte little-endian header length, a JSON header,
/// then raw little-endian tensor data. Only the pages a computation touches are read from disk,
/// so a file larger than RAM still opens. Every offset is checked against the file before use.
/// </summary>
public sealed unsafe class SafetensorsFile : IDisposable
{
    private readonly MappedFile _file;

    public string Path { get; }
    public IReadOnlyDictionary<string, TensorInfo> Tensors { get; }
    public IReadOnlyDictionary<string, string> Metadata { get; }

    private SafetensorsFile(string path, MappedFile file, Dictionary<string, TensorInfo> tensors, Dictionary<string, string> metadata)
    {
        Path = path;
        _file = file;
        Tensors = tensors;
        Metadata = metadata;
    }

    /// <summary>Header lengths beyond this are treated as corruption rather than allocated.</summary>
    private const long MaxHeaderBytes = 100L * 1024 * 1024;

    public static SafetensorsFile Open(string path)
    {
        if (!File.Exists(path))
            throw new CheckpointException($"{path}: safetensors file not found");
        long length = MappedFile.LengthOf(path);
        if (length < 8)
            throw new CheckpointException($"{path}: file is {length} bytes, too short for a safetensors header (truncated download?)");

        var file = MappedFile.Open(path, length);
        try
        {
            var (tensors, metadata) = ParseHeader(path, file.Pointer, length);
            return new SafetensorsFile(path, file, tensors, metadata);
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    private static (Dictionary<string, TensorInfo>, Dictionary<string, string>) ParseHeader(string path, byte* basePtr, long length)
    {
        ulong headerLen = *(ulong*)basePtr;
        if (!BitConverter.IsLittleEndian)
            throw new PlatformNotSupportedException("safetensors reading needs a little-endian machine");
        if (headerLen > (ulong)(length - 8) || headerLen > MaxHeaderBytes)
            throw new CheckpointException(
                $"{path}: header length {headerLen} runs past the end of the {length}-byte file (truncated or corrupt)");
        long dataStart = 8 + (long)headerLen;
        long dataLength = length - dataStart;
        var headerBytes = new ReadOnlySpan<byte>(basePtr + 8, (int)headerLen);

        // System.Text.Json checks UTF-8 only when a string is read, which would surface as an InvalidOperationException.
        if (!System.Text.Unicode.Utf8.IsValid(headerBytes))
            throw new CheckpointException($"{path}: header is not valid UTF-8 (corrupt file)");
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(headerBytes.ToArray());
        }
        catch (JsonException e)
        {
            throw new CheckpointException($"{path}: header is not valid JSON ({e.Message})");
        }

        var tensors = new Dictionary<string, TensorInfo>(StringComparer.Ordinal);
        var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
        var ranges = new List<(long Begin, long End, string Name)>();
        using (doc)
        {
            if (doc.RootElement.ValueKind != JsonValueKind.Object)
                throw new CheckpointException($"{path}: header must be a JSON object");
            foreach (var prop in doc.RootElement.EnumerateObject())
            {
                if (prop.Name == "__metadata__")
                {
                    if (prop.Value.ValueKind == JsonValueKind.Object)
                        foreach (var m in prop.Value.EnumerateObject())
                            metadata[m.Name] = m.Value.ValueKind == JsonValueKind.String ? m.Value.GetString()! : m.Value.GetRawText();
                    continue;
                }
                var info = ParseEntry(path, prop, basePtr + dataStart, dataLength);
                tensors[prop.Name] = info;
                if (info.ByteLength > 0)
                    ranges.Add((info.Data - (basePtr + dataStart), info.Data - (basePtr + dataStart) + info.ByteLength, info.Name));
            }
        }

        ranges.Sort((a, b) => a.Begin.CompareTo(b.Begin));
        for (int i = 1; i < ranges.Count; i++)
            if (ranges[i].Begin < ranges[i - 1].End)
                throw new CheckpointException(
                    $"{path}: tensors {ranges[i - 1].Name} and {ranges[i].Name} overlap in the data section (corrupt header)");
        return (tensors, metadata);
    }

    private static TensorInfo ParseEntry(string path, JsonProperty prop, byte* data, long dataLength)
    {
        string name = prop.Name;
        var e = prop.Value;
        if (e.ValueKind != JsonValueKind.Object
            || !e.TryGetProperty("dtype", out var dtypeEl) || dtypeEl.ValueKind != JsonValueKind.String
            || !e.TryGetProperty("shape", out var shapeEl) || shapeEl.ValueKind != JsonValueKind.Array
            || !e.TryGetProperty("data_offsets", out var offEl) || offEl.ValueKind != JsonValueKind.Array || offEl.GetArrayLength() != 2)
            throw new CheckpointException($"{path}: header entry for tensor {name} needs dtype, shape and data_offsets [begin, end]");
        string dtypeName = dtypeEl.GetString()!;
        if (!DTypes.TryParse(dtypeName, out var dtype))
            throw new CheckpointException($"{path}: tensor {name} has unsupported dtype {dtypeName}");
        var shape = new long[shapeEl.GetArrayLength()];
        int k = 0;
        long count = 1;
        foreach (var d in shapeEl.EnumerateArray())
        {
            if (!d.TryGetInt64(out long dim) || dim < 0)
                throw new CheckpointException($"{path}: tensor {name} has an invalid shape {shapeEl.GetRawText()}");
            shape[k++] = dim;
            if (dim > 0 && count > long.MaxValue / 16 / dim)
                throw new CheckpointException($"{path}: tensor {name} has shape {shapeEl.GetRawText()}, more elements than any file could hold");
            count *= dim;
        }
        if (!offEl[0].TryGetInt64(out long begin) || !offEl[1].TryGetInt64(out long end) || begin < 0 || end < begin)
            throw new CheckpointException($"{path}: tensor {name} has invalid data_offsets {offEl.GetRawText()}");
        if (end > dataLength)
            throw new CheckpointException(
                $"{path}: tensor {name} data_offsets [{begin}, {end}] run past the end of the data section ({dataLength} bytes; truncated file?)");
        long expected = count * DTypes.SizeOf(dtype);   // no overflow: count < 2^63 / 16 above
        if (end - begin != expected)
            throw new CheckpointException(
                $"{path}: tensor {name} ({dtypeName} {string.Join("x", shape)}) needs {expected} bytes but data_offsets span {end - begin}");
        return new TensorInfo
        {
            Name = name,
            DType = dtype,
            Shape = shape,
            File = path,
            Data = data + begin,
            ByteLength = end - begin,
            Mapped = true,
        };
    }

    public void Dispose() => _file.Dispose();
}

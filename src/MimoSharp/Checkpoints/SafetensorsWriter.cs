using System.Text;
using System.Text.Json;

namespace MimoSharp.Checkpoints;

/// <summary>
/// Writes a safetensors file. The file is written under a temporary name and moved into place
/// only when complete, so an interrupted write never leaves a truncated file where a good one was.
/// </summary>
public sealed class SafetensorsWriter
{
    private readonly List<(string Name, DType DType, long[] Shape, byte[] Data)> _tensors = [];
    private readonly Dictionary<string, string> _metadata = new(StringComparer.Ordinal);

    public SafetensorsWriter AddMetadata(string key, string value)
    {
        _metadata[key] = value;
        return this;
    }

    public SafetensorsWriter Add(string name, DType dtype, long[] shape, byte[] data)
    {
        long count = 1;
        foreach (var d in shape) count *= d;
        if (count * DTypes.SizeOf(dtype) != data.LongLength)
            throw new ArgumentException($"tensor {name}: {dtype} [{string.Join(", ", shape)}] needs {count * DTypes.SizeOf(dtype)} bytes, got {data.LongLength}");
        if (_tensors.Any(t => t.Name == name))
            throw new ArgumentException($"tensor {name} was added twice");
        _tensors.Add((name, dtype, shape, data));
        return this;
    }

    public SafetensorsWriter AddF32(string name, long[] shape, ReadOnlySpan<float> values) =>
        Add(name, DType.F32, shape, System.Runtime.InteropServices.MemoryMarshal.AsBytes(values).ToArray());

    public SafetensorsWriter AddBF16(string name, long[] shape, ReadOnlySpan<float> values)
    {
        var bytes = new byte[values.Length * 2];
        var dst = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, ushort>(bytes.AsSpan());
        for (int i = 0; i < values.Length; i++) dst[i] = Tensors.BFloat16.FromFloat(values[i]);
        return Add(name, DType.BF16, shape, bytes);
    }

    public void Write(string path)
    {
        using var header = new MemoryStream();
        using (var w = new Utf8JsonWriter(header))
        {
            w.WriteStartObject();
            if (_metadata.Count > 0)
            {
                w.WriteStartObject("__metadata__");
                foreach (var (k, v) in _metadata) w.WriteString(k, v);
                w.WriteEndObject();
            }
            long offset = 0;
            foreach (var t in _tensors)
            {
                w.WriteStartObject(t.Name);
                w.WriteString("dtype", DTypes.Name(t.DType));
                w.WriteStartArray("shape");
                foreach (var d in t.Shape) w.WriteNumberValue(d);
                w.WriteEndArray();
                w.WriteStartArray("data_offsets");
                w.WriteNumberValue(offset);
                w.WriteNumberValue(offset + t.Data.LongLength);
                w.WriteEndArray();
                w.WriteEndObject();
                offset += t.Data.LongLength;
            }
            w.WriteEndObject();
        }
        // Pad the header with spaces to 8 bytes so the data section is aligned, as the reference writer does.
        while (header.Length % 8 != 0) header.WriteByte((byte)' ');

        string dir = System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(path))!;
        Directory.CreateDirectory(dir);
        string tmp = System.IO.Path.Combine(dir, "." + System.IO.Path.GetFileName(path) + ".tmp-" + Environment.ProcessId);
        try
        {
            using (var f = new FileStream(tmp, FileMode.Create, FileAccess.Write))
            {
                f.Write(BitConverter.GetBytes((ulong)header.Length));
                header.Position = 0;
                header.CopyTo(f);
                foreach (var t in _tensors) f.Write(t.Data);
                f.Flush(true);
            }
            File.Move(tmp, path, overwrite: true);
        }
        catch
        {
            if (File.Exists(tmp)) File.Delete(tmp);
            throw;
        }
    }
}

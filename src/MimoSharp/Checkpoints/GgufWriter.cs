using System.Text;

namespace MimoSharp.Checkpoints;

/// <summary>
/// Writes a GGUF version 3 file: metadata in insertion order, tensor descriptions, then each tensor's data
/// at a 32-byte aligned offset. Tensor data is produced by a callback when the data section is written, so
/// a converter never holds more than one tensor in memory. The file is written under a temporary name and
/// moved into place only when complete.
/// </summary>
public sealed class GgufWriter
{
    private readonly List<(string Key, GgufValueType Type, object Value)> _metadata = [];
    private readonly List<(string Name, long[] Dims, GgmlType Type, long Bytes, Action<Stream> Write)> _tensors = [];
    private readonly HashSet<string> _keys = new(StringComparer.Ordinal);
    private readonly HashSet<string> _names = new(StringComparer.Ordinal);

    public IEnumerable<string> TensorNames => _tensors.Select(t => t.Name);

    public GgufWriter Add(string key, GgufValueType type, object value)
    {
        if (!_keys.Add(key)) throw new ArgumentException($"metadata key {key} was added twice");
        if (type == GgufValueType.Array && value is not GgufArray)
            throw new ArgumentException($"metadata {key}: an array value must be a GgufArray");
        _metadata.Add((key, type, value));
        return this;
    }

    public GgufWriter AddString(string key, string value) => Add(key, GgufValueType.String, value);
    public GgufWriter AddUInt32(string key, long value) => Add(key, GgufValueType.UInt32, checked((uint)value));
    public GgufWriter AddFloat32(string key, double value) => Add(key, GgufValueType.Float32, (float)value);
    public GgufWriter AddBool(string key, bool value) => Add(key, GgufValueType.Bool, value);
    public GgufWriter AddArray(string key, GgufValueType elementType, Array items) => Add(key, GgufValueType.Array, new GgufArray(elementType, items));

    /// <summary>
    /// Adds a tensor of ggml dimensions <paramref name="dims"/> (values per row first); <paramref name="write"/>
    /// must write exactly its bytes when called.
    /// </summary>
    public GgufWriter AddTensor(string name, long[] dims, GgmlType type, Action<Stream> write)
    {
        if (!_names.Add(name)) throw new ArgumentException($"tensor {name} was added twice");
        long rows = 1;
        for (int d = 1; d < dims.Length; d++) rows *= dims[d];
        long bytes = Gguf.RowBytes(type, dims[0]) * rows;
        _tensors.Add((name, dims, type, bytes, write));
        return this;
    }

    public void Write(string path)
    {
        string full = System.IO.Path.GetFullPath(path);
        string dir = System.IO.Path.GetDirectoryName(full)!;
        Directory.CreateDirectory(dir);
        string tmp = System.IO.Path.Combine(dir, "." + System.IO.Path.GetFileName(full) + ".tmp-" + Environment.ProcessId);
        try
        {
            using (var f = new FileStream(tmp, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20))
            {
                WriteTo(f);
                f.Flush(true);
            }
            File.Move(tmp, full, overwrite: true);
        }
        catch
        {
            if (File.Exists(tmp)) File.Delete(tmp);
            throw;
        }
    }

    private void WriteTo(Stream s)
    {
        var w = new BinaryWriter(s, Encoding.UTF8, leaveOpen: true);
        w.Write(Gguf.Magic);
        w.Write(Gguf.Version);
        w.Write((ulong)_tensors.Count);
        w.Write((ulong)_metadata.Count);
        foreach (var (key, type, value) in _metadata)
        {
            WriteString(w, key);
            w.Write((uint)type);
            WriteValue(w, type, value, key);
        }
        long offset = 0;
        var offsets = new long[_tensors.Count];
        for (int i = 0; i < _tensors.Count; i++)
        {
            var t = _tensors[i];
            offsets[i] = offset;
            WriteString(w, t.Name);
            w.Write((uint)t.Dims.Length);
            foreach (var d in t.Dims) w.Write((ulong)d);
            w.Write((uint)t.Type);
            w.Write((ulong)offset);
            offset = Gguf.Align(offset + t.Bytes, Gguf.DefaultAlignment);
        }
        w.Flush();
        Pad(s, Gguf.Align(s.Position, Gguf.DefaultAlignment) - s.Position);
        long dataStart = s.Position;
        for (int i = 0; i < _tensors.Count; i++)
        {
            var t = _tensors[i];
            Pad(s, dataStart + offsets[i] - s.Position);
            long before = s.Position;
            t.Write(s);
            if (s.Position - before != t.Bytes)
                throw new InvalidOperationException($"tensor {t.Name}: wrote {s.Position - before} bytes, expected {t.Bytes} for {t.Type} {string.Join("x", t.Dims)}");
        }
    }

    private static void Pad(Stream s, long n)
    {
        for (long i = 0; i < n; i++) s.WriteByte(0);
    }

    private static void WriteString(BinaryWriter w, string value)
    {
        var bytes = Encoding.UTF8.GetBytes(value);
        w.Write((ulong)bytes.Length);
        w.Write(bytes);
    }

    private static void WriteValue(BinaryWriter w, GgufValueType type, object value, string key)
    {
        switch (type)
        {
            case GgufValueType.UInt8: w.Write(Convert.ToByte(value)); break;
            case GgufValueType.Int8: w.Write(Convert.ToSByte(value)); break;
            case GgufValueType.UInt16: w.Write(Convert.ToUInt16(value)); break;
            case GgufValueType.Int16: w.Write(Convert.ToInt16(value)); break;
            case GgufValueType.UInt32: w.Write(Convert.ToUInt32(value)); break;
            case GgufValueType.Int32: w.Write(Convert.ToInt32(value)); break;
            case GgufValueType.Float32: w.Write(Convert.ToSingle(value)); break;
            case GgufValueType.Bool: w.Write((byte)(Convert.ToBoolean(value) ? 1 : 0)); break;
            case GgufValueType.String: WriteString(w, (string)value); break;
            case GgufValueType.UInt64: w.Write(Convert.ToUInt64(value)); break;
            case GgufValueType.Int64: w.Write(Convert.ToInt64(value)); break;
            case GgufValueType.Float64: w.Write(Convert.ToDouble(value)); break;
            case GgufValueType.Array:
                var a = (GgufArray)value;
                if (a.ElementType == GgufValueType.Array) throw new ArgumentException($"metadata {key}: arrays of arrays are not supported");
                w.Write((uint)a.ElementType);
                w.Write((ulong)a.Count);
                foreach (var item in a.Items) WriteValue(w, a.ElementType, item!, key);
                break;
            default:
                throw new ArgumentException($"metadata {key}: unknown value type {type}");
        }
    }
}

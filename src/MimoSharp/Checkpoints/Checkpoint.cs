using System.Text.Json;
using MimoSharp.Config;
using MimoSharp.Tensors;

namespace MimoSharp.Checkpoints;

/// <summary>
/// A Hugging Face checkpoint folder: <c>config.json</c> plus either one <c>model.safetensors</c>
/// or shards listed in <c>model.safetensors.index.json</c>. Tensors are resolved by name through
/// the index, so a weight and its scale may live in different shards.
/// </summary>
public sealed class Checkpoint : IDisposable
{
    public const string IndexFileName = "model.safetensors.index.json";
    public const string SingleFileName = "model.safetensors";

    private readonly List<SafetensorsFile> _files;
    private readonly Dictionary<string, TensorInfo> _tensors;
    private IDisposable? _owner; // the container the tensors live in, when not safetensors (a GGUF file)

    public string Directory { get; }
    public MimoConfig Config { get; }
    public IReadOnlyCollection<string> TensorNames => _tensors.Keys;
    public IReadOnlyList<string> Files => _owner is null ? _files.Select(f => f.Path).ToList() : [Directory];

    private Checkpoint(string directory, MimoConfig config, List<SafetensorsFile> files, Dictionary<string, TensorInfo> tensors)
    {
        Directory = directory;
        Config = config;
        _files = files;
        _tensors = tensors;
    }

    /// <summary>A checkpoint whose tensors, under Hub names, live in another container (see <see cref="GgufCheckpoint"/>).</summary>
    internal static Checkpoint FromTensors(string source, MimoConfig config, Dictionary<string, TensorInfo> tensors, IDisposable owner) =>
        new(source, config, [], tensors) { _owner = owner };

    public static Checkpoint Open(string directory)
    {
        if (!System.IO.Directory.Exists(directory))
            throw new CheckpointException($"{directory}: model folder not found");
        var config = MimoConfig.Load(Path.Combine(directory, "config.json"));
        var files = new List<SafetensorsFile>();
        var tensors = new Dictionary<string, TensorInfo>(StringComparer.Ordinal);
        try
        {
            string index = Path.Combine(directory, IndexFileName);
            string single = Path.Combine(directory, SingleFileName);
            if (File.Exists(index))
            {
                var map = ReadIndex(index);
                var byShard = new Dictionary<string, SafetensorsFile>(StringComparer.Ordinal);
                foreach (var shard in map.Values.Distinct().Order(StringComparer.Ordinal))
                {
                    string shardPath = Path.Combine(directory, shard);
                    if (shard.Contains('/') || shard.Contains('\\') || shard.StartsWith('.'))
                        throw new CheckpointException($"{index}: shard name \"{shard}\" must be a plain file name in the model folder");
                    if (!File.Exists(shardPath))
                        throw new CheckpointException($"{index}: shard {shard} is listed in weight_map but {shardPath} does not exist");
                    var f = SafetensorsFile.Open(shardPath);
                    files.Add(f);
                    byShard[shard] = f;
                }
                foreach (var (name, shard) in map)
                {
                    if (!byShard[shard].Tensors.TryGetValue(name, out var info))
                        throw new CheckpointException($"{index}: weight_map puts tensor {name} in {shard}, but that shard has no such tensor");
                    tensors[name] = info;
                }
            }
            else if (File.Exists(single))
            {
                var f = SafetensorsFile.Open(single);
                files.Add(f);
                foreach (var (name, info) in f.Tensors) tensors[name] = info;
            }
            else
            {
                throw new CheckpointException($"{directory}: no {SingleFileName} or {IndexFileName} in the model folder");
            }
        }
        catch
        {
            foreach (var f in files) f.Dispose();
            throw;
        }
        return new Checkpoint(directory, config, files, tensors);
    }

    private static Dictionary<string, string> ReadIndex(string path)
    {
        try
        {
            byte[] bytes = File.ReadAllBytes(path);
            // System.Text.Json checks UTF-8 only when a string is read, which would surface as an InvalidOperationException.
            if (!System.Text.Unicode.Utf8.IsValid(bytes)) throw new CheckpointException($"{path}: not valid UTF-8 (corrupt file)");
            using var doc = JsonDocument.Parse(bytes);
            if (doc.RootElement.ValueKind != JsonValueKind.Object || !doc.RootElement.TryGetProperty("weight_map", out var wm) || wm.ValueKind != JsonValueKind.Object)
                throw new CheckpointException($"{path}: missing the \"weight_map\" object");
            var map = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (var p in wm.EnumerateObject())
            {
                if (p.Value.ValueKind != JsonValueKind.String)
                    throw new CheckpointException($"{path}: weight_map[\"{p.Name}\"] must be a shard file name");
                map[p.Name] = p.Value.GetString()!;
            }
            return map;
        }
        catch (JsonException e)
        {
            throw new CheckpointException($"{path}: not valid JSON ({e.Message})");
        }
    }

    public bool Contains(string name) => _tensors.ContainsKey(name);

    public TensorInfo? TryGet(string name) => _tensors.GetValueOrDefault(name);

    /// <summary>Gets a tensor, checking its shape; a missing or mis-shaped tensor is an error naming it.</summary>
    public TensorInfo Get(string name, params long[] shape)
    {
        if (!_tensors.TryGetValue(name, out var info))
            throw new CheckpointException($"{Directory}: tensor {name} is missing (expected shape [{string.Join(", ", shape)}])");
        if (shape.Length > 0 && !info.Shape.AsSpan().SequenceEqual(shape))
            throw new CheckpointException(
                $"{info.File}: tensor {name} has shape {info.ShapeText}, expected [{string.Join(", ", shape)}] from config.json");
        return info;
    }

    /// <summary>
    /// A weight matrix as stored, its shape checked. FP8 weights come with their block scales in whichever layout the
    /// file uses: the plain grid, or for k_proj/v_proj the released checkpoint's fused K|V blocks, told apart by the K
    /// scale's row count (<see cref="FusedKvScales"/>).
    /// </summary>
    public WeightMatrix Matrix(string name, params long[] shape)
    {
        var w = Get(name, shape);
        if (w.DType == DType.F8_E4M3 && name.EndsWith(".weight", StringComparison.Ordinal)
            && Config.Fp8IgnoredLayers.Contains(name[..^".weight".Length]))
            throw new CheckpointException(
                $"{w.File}: tensor {name} is F8_E4M3 but config.json's quantization_config.ignored_layers lists {name[..^".weight".Length]} as unquantised");
        var scale = w.DType == DType.F8_E4M3 ? TryGet(name + "_scale_inv") : null;
        if (scale is not null && Config.WeightBlockSize is int[] block && w.Shape.Length == 2
            && FusedKvScales.TryParse(name, Config, out var attention, out string prefix, out bool isValue)
            && TryGet(prefix + "k_proj.weight_scale_inv") is TensorInfo kScale
            && FusedKvScales.Detect(kScale, attention, block[0], block[1], checked((int)w.Shape[1])) == Fp8ScaleLayout.PerHeadFusedKv)
            return FusedKvScales.Open(this, w, prefix, attention, isValue, block);
        return WeightMatrix.From(w, scale, Config.WeightBlockSize);
    }

    public void Dispose()
    {
        foreach (var f in _files) f.Dispose();
        _files.Clear();
        _owner?.Dispose();
    }
}

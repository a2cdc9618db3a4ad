using System.Text.Json.Nodes;
using MimoSharp.Checkpoints;
using MimoSharp.Config;
using MimoSharp.Model;

namespace MimoSharp.Fuzz.Targets;

/// <summary>
/// model.safetensors.index.json over a sharded checkpoint: the micro model split into two shards, the index
/// fuzzed, the folder opened and loaded as a model.
/// </summary>
public sealed class ShardIndexTarget : FuzzTarget
{
    private readonly string _index;

    public ShardIndexTarget()
    {
        File.Copy(Path.Combine(MicroModel.Directory, "config.json"), Path.Combine(Scratch, "config.json"));
        var map = new JsonObject();
        using (var single = SafetensorsFile.Open(Path.Combine(MicroModel.Directory, Checkpoint.SingleFileName)))
        {
            var shards = new[] { new SafetensorsWriter(), new SafetensorsWriter() };
            int i = 0;
            foreach (var (name, t) in single.Tensors.OrderBy(kv => kv.Key, StringComparer.Ordinal))
            {
                int s = i++ % 2;
                shards[s].Add(name, t.DType, t.Shape, t.Bytes.ToArray());
                map[name] = ShardName(s);
            }
            for (int s = 0; s < 2; s++) shards[s].Write(Path.Combine(Scratch, ShardName(s)));
        }
        var index = new JsonObject { ["metadata"] = new JsonObject { ["total_size"] = 0 }, ["weight_map"] = map };
        _index = Path.Combine(Scratch, Checkpoint.IndexFileName);
        Seeds = [System.Text.Encoding.UTF8.GetBytes(index.ToJsonString())];
    }

    private static string ShardName(int s) => $"model-{s + 1:00000}-of-00002.safetensors";

    public override string Name => "index";
    public override IReadOnlyList<byte[]> Seeds { get; }

    protected override void Read(ReadOnlySpan<byte> input)
    {
        File.WriteAllBytes(_index, input.ToArray());
        using var model = MimoModel.Load(Scratch);
    }

    protected override bool IsRefusal(Exception e) => e switch
    {
        CheckpointException c => NamesSource(c, Checkpoint.IndexFileName) || NamesSource(c, ".safetensors"),
        MimoConfigException c => c.Message.Contains("config.json", StringComparison.Ordinal),
        _ => false,
    };
}

using MimoSharp.Checkpoints;
using MimoSharp.Config;
using MimoSharp.Model;

namespace MimoSharp.Fuzz.Targets;

/// <summary>
/// config.json, read and then used to load the micro model's weights: a config that parses but contradicts the
/// tensors (a layer count, a head layout, a vocabulary size) must be refused by name, not crash the loader.
/// </summary>
public sealed class ConfigTarget : FuzzTarget
{
    private readonly string _file;

    public ConfigTarget()
    {
        _file = Path.Combine(Scratch, "config.json");
        File.CreateSymbolicLink(Path.Combine(Scratch, Checkpoint.SingleFileName), Path.Combine(MicroModel.Directory, Checkpoint.SingleFileName));
        Seeds = [File.ReadAllBytes(Path.Combine(MicroModel.Directory, "config.json"))];
    }

    public override string Name => "config";
    public override IReadOnlyList<byte[]> Seeds { get; }

    protected override void Read(ReadOnlySpan<byte> input)
    {
        File.WriteAllBytes(_file, input.ToArray());
        MimoConfig.Load(_file);
        using var model = MimoModel.Load(Scratch);
    }

    protected override bool IsRefusal(Exception e) => e switch
    {
        MimoConfigException c => c.Message.Contains("config.json", StringComparison.Ordinal),
        CheckpointException c => NamesSource(c, Checkpoint.SingleFileName) || NamesSource(c, "config.json"),
        _ => false,
    };
}

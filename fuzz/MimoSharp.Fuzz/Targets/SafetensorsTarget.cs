using MimoSharp.Checkpoints;
using MimoSharp.Config;
using MimoSharp.Model;

namespace MimoSharp.Fuzz.Targets;

/// <summary>A model.safetensors file (header, offsets, dtypes, shapes, data), opened and loaded as a model.</summary>
public sealed class SafetensorsTarget : FuzzTarget
{
    private readonly string _file;

    public SafetensorsTarget()
    {
        File.Copy(Path.Combine(MicroModel.Directory, "config.json"), Path.Combine(Scratch, "config.json"));
        _file = Path.Combine(Scratch, Checkpoint.SingleFileName);
        Seeds = [File.ReadAllBytes(Path.Combine(MicroModel.Directory, Checkpoint.SingleFileName))];
    }

    public override string Name => "safetensors";
    public override IReadOnlyList<byte[]> Seeds { get; }

    protected override void Read(ReadOnlySpan<byte> input)
    {
        File.WriteAllBytes(_file, input.ToArray());
        using (var file = SafetensorsFile.Open(_file))
            foreach (var tensor in file.Tensors.Values) Touch(tensor.Bytes);
        using var model = MimoModel.Load(Scratch);
    }

    protected override bool IsRefusal(Exception e) => e switch
    {
        CheckpointException c => NamesSource(c, Checkpoint.SingleFileName),
        MimoConfigException c => c.Message.Contains("config.json", StringComparison.Ordinal),
        _ => false,
    };
}

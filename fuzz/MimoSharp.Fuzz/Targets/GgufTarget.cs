using MimoSharp.Checkpoints;
using MimoSharp.Config;
using MimoSharp.Model;

namespace MimoSharp.Fuzz.Targets;

/// <summary>A mimo2 GGUF file (header, metadata, tensor infos, block data), opened and loaded as a model.</summary>
public sealed class GgufTarget : FuzzTarget
{
    private readonly string _file;

    public GgufTarget()
    {
        _file = Path.Combine(Scratch, "model.gguf");
        Seeds = [File.ReadAllBytes(MicroModel.GgufPath)];
    }

    public override string Name => "gguf";
    public override IReadOnlyList<byte[]> Seeds { get; }

    protected override void Read(ReadOnlySpan<byte> input)
    {
        File.WriteAllBytes(_file, input.ToArray());
        using (var file = GgufFile.Open(_file))
            foreach (var tensor in file.TensorList) Touch(file.Bytes(tensor));
        using var model = MimoModel.Load(_file);
    }

    protected override bool IsRefusal(Exception e) => e switch
    {
        CheckpointException c => c.Message.Contains("model.gguf", StringComparison.Ordinal),
        MimoConfigException c => c.Message.Contains("model.gguf", StringComparison.Ordinal) || c.Message.Contains("config.json", StringComparison.Ordinal),
        _ => false,
    };
}

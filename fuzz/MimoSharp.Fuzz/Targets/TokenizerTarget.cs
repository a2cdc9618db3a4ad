using MimoSharp.Text;

namespace MimoSharp.Fuzz.Targets;

/// <summary>tokenizer.json: parsed, then used to encode and decode text that exercises every pre-tokenizer branch.</summary>
public sealed class TokenizerTarget : FuzzTarget
{
    private const string Sample = "Hello, World! It's 2026-12-04: naïve café 東京 🙂\n\tdef f(x):\n    return x**2  # ok<|im_end|>";

    public TokenizerTarget() =>
        Seeds = [File.ReadAllBytes(Path.Combine(MicroModel.Directory, "tokenizer.json"))];

    public override string Name => "tokenizer";
    public override IReadOnlyList<byte[]> Seeds { get; }

    protected override void Read(ReadOnlySpan<byte> input)
    {
        var tokenizer = Tokenizer.FromJson(input, "tokenizer.json");
        int[] ids = tokenizer.Encode(Sample);
        tokenizer.Decode(ids);
        var stream = tokenizer.CreateStreamingDecoder();
        foreach (int id in ids) stream.Push(id);
        stream.Flush();
    }

    protected override bool IsRefusal(Exception e) =>
        e is InvalidDataException && e.Message.Contains("tokenizer.json", StringComparison.Ordinal);
}

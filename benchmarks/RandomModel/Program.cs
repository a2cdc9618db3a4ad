// Writes a random MiMo-V2-Flash-shaped checkpoint for speed measurements (never committed).
// usage: dotnet run --project benchmarks/RandomModel -c Release -- OUT_DIR (50m|400m|2b)
//        dotnet run --project benchmarks/RandomModel -c Release -- OUT_DIR release [--layers N] [--experts E] [--vocab V] [--mtp K] [--shard-mb M]
//        (the public FP8 release's layout at real dimensions: see SyntheticRelease)
using System.Globalization;
using MimoSharp.Checkpoints;

if (args.Length < 2)
{
    Console.Error.WriteLine("usage: RandomModel OUT_DIR (50m|400m|2b)\n       RandomModel OUT_DIR release [--layers N] [--experts E] [--vocab V] [--mtp K] [--shard-mb M]");
    return 2;
}
if (args[1] == "release")
{
    int Option(string name, int fallback)
    {
        int i = Array.IndexOf(args, name);
        if (i < 0) return fallback;
        if (i + 1 >= args.Length || !int.TryParse(args[i + 1], NumberStyles.None, CultureInfo.InvariantCulture, out int v) || v <= 0)
            throw new ArgumentException($"{name} needs a positive integer");
        return v;
    }
    var release = SyntheticRelease.Config(layers: Option("--layers", 48), experts: Option("--experts", 256), vocab: Option("--vocab", 152576));
    var progress = new Progress<string>(s => Console.Error.WriteLine($"  {s}"));
    SyntheticRelease.Write(args[0], release, mtpLayers: Option("--mtp", 3), seed: 1, shardBytes: Option("--shard-mb", 4096) * (1L << 20), progress: progress);
    Console.Error.WriteLine($"wrote {args[0]}");
    return 0;
}
// MiMo's proportions scaled down: 5:1 SWA/global, dense first layer, many small experts, top-8, 3 MTP layers.
var config = args[1] switch
{
    "50m" => SyntheticCheckpoint.Config(hidden: 256, layers: 8, experts: 64, topK: 8, moeIntermediate: 128, vocab: 16384, heads: 4, headDim: 96, vHeadDim: 64),
    "400m" => SyntheticCheckpoint.Config(hidden: 768, layers: 12, experts: 128, topK: 8, moeIntermediate: 256, vocab: 32768, heads: 8, headDim: 96, vHeadDim: 64),
    "2b" => SyntheticCheckpoint.Config(hidden: 1536, layers: 16, experts: 128, topK: 8, moeIntermediate: 512, vocab: 65536, heads: 12, headDim: 192, vHeadDim: 128),
    _ => throw new ArgumentException($"unknown size {args[1]}: use 50m, 400m, 2b or release"),
};
SyntheticCheckpoint.Write(args[0], config, mtpLayers: 3, seed: 1);
Console.Error.WriteLine($"wrote {args[0]}");
return 0;

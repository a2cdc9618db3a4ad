// Writes a random MiMo-V2-Flash-shaped checkpoint for speed measurements (never committed).
// usage: dotnet run --project benchmarks/RandomModel -c Release -- OUT_DIR (50m|400m|2b)
using MimoSharp.Checkpoints;

if (args.Length < 2)
{
    Console.Error.WriteLine("usage: RandomModel OUT_DIR (50m|400m|2b)");
    return 2;
}
// MiMo's proportions scaled down: 5:1 SWA/global, dense first layer, many small experts, top-8, 3 MTP layers.
var config = args[1] switch
{
    "50m" => SyntheticCheckpoint.Config(hidden: 256, layers: 8, experts: 64, topK: 8, moeIntermediate: 128, vocab: 16384, heads: 4, headDim: 96, vHeadDim: 64),
    "400m" => SyntheticCheckpoint.Config(hidden: 768, layers: 12, experts: 128, topK: 8, moeIntermediate: 256, vocab: 32768, heads: 8, headDim: 96, vHeadDim: 64),
    "2b" => SyntheticCheckpoint.Config(hidden: 1536, layers: 16, experts: 128, topK: 8, moeIntermediate: 512, vocab: 65536, heads: 12, headDim: 192, vHeadDim: 128),
    _ => throw new ArgumentException($"unknown size {args[1]}: use 50m, 400m or 2b"),
};
SyntheticCheckpoint.Write(args[0], config, mtpLayers: 3, seed: 1);
Console.Error.WriteLine($"wrote {args[0]}");
return 0;

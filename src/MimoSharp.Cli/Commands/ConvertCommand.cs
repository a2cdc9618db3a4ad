using System.CommandLine;
using System.Diagnostics;
using MimoSharp.Checkpoints;
using MimoSharp.Model;

namespace MimoSharp.Cli.Commands;

/// <summary>
/// <c>mimo convert --to gguf</c>: writes a checkpoint as a llama.cpp <c>mimo2</c> GGUF (main layers, MTP layers as
/// extra blocks, tokenizer), with linear weights in f32, f16, bf16, q8_0 or q4_k.
/// </summary>
internal static class ConvertCommand
{
    public static Command Create()
    {
        var model = Cli.ModelOption();
        var to = new Option<string>("--to") { Description = "output format: gguf", Required = true };
        var quant = Cli.Choice("--quant", "type of the linear weights (auto keeps each matrix's stored float type)", GgufExport.Types, "auto");
        var output = new Option<string>("--out", "-o") { Description = "output file (.gguf)", Required = true };
        var name = new Option<string?>("--name") { Description = "general.name written to the file (default: the model folder's name)" };
        var json = Cli.JsonOption();
        var cmd = new Command("convert", "write a model as a llama.cpp/Ollama GGUF file (architecture mimo2)") { model, to, quant, output, name, json };
        cmd.SetAction(r => Cli.Run(() =>
        {
            string format = r.GetValue(to)!.ToLowerInvariant();
            if (format != "gguf") throw new ArgumentException($"--to \"{r.GetValue(to)}\" is not supported: use gguf");
            var type = GgufExport.Types[r.GetValue(quant)!];
            string dir = Cli.ResolveModel(r.GetValue(model));
            string outPath = r.GetValue(output)!;
            if (Path.GetFullPath(outPath) == Path.GetFullPath(dir))
                throw new ArgumentException("--out must differ from --model");
            var clock = Stopwatch.StartNew();
            using var checkpoint = GgufCheckpoint.IsGgufPath(dir) ? GgufCheckpoint.Open(dir) : Checkpoint.Open(dir);
            int mtp = MimoModel.CountMtpLayers(checkpoint);
            var result = GgufExport.Write(checkpoint, mtp, outPath, new GgufExportOptions
            {
                Matrices = type,
                Name = r.GetValue(name),
                Log = line => Console.Error.WriteLine(line),
            });
            var summary = new
            {
                output = outPath,
                architecture = GgufMimo2.Architecture,
                quant = type?.ToString().ToLowerInvariant() ?? "auto",
                tensors = result.Tensors,
                tensors_by_type = result.TensorsByType.ToDictionary(kv => kv.Key.ToString(), kv => kv.Value),
                mtp_layers = mtp,
                bytes = result.Bytes,
                seconds = Math.Round(clock.Elapsed.TotalSeconds, 2),
                warnings = result.Warnings.Count,
            };
            if (r.GetValue(json)) Cli.WriteJson(summary);
            else
                Console.Error.WriteLine($"wrote {outPath}: {result.Tensors} tensors ({string.Join(", ", summary.tensors_by_type.Select(kv => $"{kv.Value} {kv.Key}"))}), " +
                                        $"{mtp} MTP layers, {result.Bytes / (1024.0 * 1024):F1} MiB in {summary.seconds:F1} s");
            return 0;
        }));
        return cmd;
    }
}

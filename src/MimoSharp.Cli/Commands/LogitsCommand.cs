using System.CommandLine;
using MimoSharp.Checkpoints;
using MimoSharp.Inference;
using MimoSharp.Model;

namespace MimoSharp.Cli.Commands;

/// <summary><c>mimo logits</c>: teacher-forced outputs of a token sequence, written as safetensors (fixture names).</summary>
internal static class LogitsCommand
{
    public static Command Create()
    {
        var model = Cli.ModelOption();
        var tokens = new Option<string>("--tokens") { Description = "comma-separated token ids, e.g. 1,2,3", Required = true };
        var output = new Option<string>("--out") { Description = "output .safetensors file", Required = true };
        var threads = Cli.ThreadsOption();
        var quant = Cli.QuantOption();
        var kvCache = Cli.KvCacheOption();
        var cmd = new Command("logits", "write logits, hidden_prenorm and mtp.{k}.logits (F32) for a token sequence") { model, quant, kvCache, tokens, output, threads };
        cmd.SetAction(r => Cli.Run(() =>
        {
            using var m = Cli.LoadModel(Cli.ResolveModel(r.GetValue(model)), r.GetValue(quant), Cli.Threads(r, threads), r.GetValue(kvCache)!);
            var ids = Cli.ParseTokens(r.GetValue(tokens)!);
            Generator.ValidatePrompt(m, ids);
            var outs = TeacherForcing.Run(m, ids);
            int t = ids.Length, v = m.VocabSize, h = m.HiddenSize;
            var writer = new SafetensorsWriter()
                .AddF32("logits", [t, v], outs.Logits)
                .AddF32("hidden_prenorm", [t, h], outs.HiddenPrenorm);
            for (int k = 0; k < m.MtpLayers.Count; k++)
            {
                int rows = Math.Max(0, t - k - 1);
                writer.AddF32($"mtp.{k}.logits", [rows, v], outs.MtpLogits[k]);
                writer.AddF32($"mtp.{k}.hidden_prenorm", [rows, h], outs.MtpHidden[k]);
            }
            writer.Write(r.GetValue(output)!);
            Console.Error.WriteLine($"wrote {r.GetValue(output)}: logits [{t}, {v}], hidden_prenorm [{t}, {h}], {m.MtpLayers.Count} MTP depths");
            return 0;
        }));
        return cmd;
    }
}

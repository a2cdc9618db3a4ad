using System.CommandLine;
using MimoSharp.Inference;
using MimoSharp.Model;

namespace MimoSharp.Cli.Commands;

/// <summary><c>mimo generate</c>: continue a prompt, streaming tokens as they are produced.</summary>
internal static class GenerateCommand
{
    public static Command Create()
    {
        var model = Cli.ModelOption();
        var tokens = new Option<string>("--tokens") { Description = "prompt as comma-separated token ids, e.g. 1,2,3", Required = true };
        var maxTokens = new Option<int>("--max-tokens", "-n") { Description = "tokens to generate", DefaultValueFactory = _ => 64 };
        var stop = new Option<string?>("--stop-tokens") { Description = "comma-separated ids that end generation (default: the config's eos_token_id)" };
        var speculative = new Option<int>("--speculative")
        {
            Description = "MTP draft depth per step (0 = plain decoding; at most the checkpoint's MTP layers)",
            DefaultValueFactory = _ => 0,
        };
        var threads = Cli.ThreadsOption();
        var json = Cli.JsonOption();
        var sampling = new SamplingCliOptions();
        var cmd = new Command("generate", "generate tokens from a prompt") { model, tokens, maxTokens, stop, speculative, threads, json };
        sampling.AddTo(cmd);
        cmd.SetAction(r => Cli.Run(() =>
        {
            Tensors.MatMul.MaxThreads = Math.Max(1, r.GetValue(threads));
            using var m = MimoModel.Load(r.GetValue(model)!);
            var prompt = Cli.ParseTokens(r.GetValue(tokens)!);
            if (r.GetValue(maxTokens) < 0) throw new ArgumentException($"--max-tokens must be ≥ 0, got {r.GetValue(maxTokens)}");
            int k = r.GetValue(speculative);
            if (k < 0 || k > m.MtpLayers.Count)
                throw new ArgumentException($"--speculative {k} is out of range: this checkpoint has {m.MtpLayers.Count} MTP layers");
            var options = new GenerationOptions
            {
                MaxTokens = r.GetValue(maxTokens),
                Sampling = sampling.Read(r),
                StopTokens = r.GetValue(stop) is string s ? Cli.ParseTokens(s) : m.Config.EosTokenIds,
                Speculative = k,
            };
            var generator = new Generator(m, options);
            bool asJson = r.GetValue(json);
            var generated = new List<int>();
            foreach (int id in generator.Generate(prompt))
            {
                generated.Add(id);
                if (!asJson)
                {
                    Console.Out.Write(generated.Count == 1 ? $"{id}" : $" {id}");
                    Console.Out.Flush();
                }
            }
            var st = generator.Stats;
            if (asJson)
            {
                Cli.WriteJson(new
                {
                    prompt_ids = prompt,
                    generated_ids = generated,
                    prompt_tokens = st.PromptTokens,
                    generated_tokens = st.GeneratedTokens,
                    prefill_tokens_per_s = st.PrefillTokensPerSecond,
                    decode_tokens_per_s = st.DecodeTokensPerSecond,
                    speculative = new
                    {
                        k = st.DraftDepth,
                        acceptance_length = st.AcceptanceLength,
                        accepted_per_depth = st.AcceptedPerDepth,
                        accepted_histogram = st.AcceptedHistogram,
                        decode_steps = st.DecodeSteps,
                    },
                });
            }
            else
            {
                Console.Out.WriteLine();
                Console.Error.WriteLine(
                    $"prefill {st.PromptTokens} tokens at {st.PrefillTokensPerSecond:F1} tok/s; decode {st.GeneratedTokens} tokens at {st.DecodeTokensPerSecond:F1} tok/s"
                    + (st.DraftDepth > 0 ? $"; speculative K={st.DraftDepth}, acceptance length {st.AcceptanceLength:F2}" : ""));
            }
            return 0;
        }));
        return cmd;
    }
}

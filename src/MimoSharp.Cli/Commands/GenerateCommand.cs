using System.CommandLine;
using MimoSharp.Inference;
using MimoSharp.Model;
using MimoSharp.Text;

namespace MimoSharp.Cli.Commands;

/// <summary><c>mimo generate</c>: continue a prompt (text or token ids), streaming tokens as they are produced.</summary>
internal static class GenerateCommand
{
    public static Command Create()
    {
        var model = Cli.ModelOption();
        var text = new Argument<string?>("prompt") { Description = "prompt text (needs tokenizer.json in the model folder)", Arity = ArgumentArity.ZeroOrOne };
        var promptOption = new Option<string?>("--prompt", "-p") { Description = "prompt text (same as the positional prompt)" };
        var tokens = new Option<string?>("--tokens") { Description = "prompt as comma-separated token ids, e.g. 1,2,3" };
        var maxTokens = new Option<int>("--max-tokens", "-n") { Description = "tokens to generate", DefaultValueFactory = _ => 64 };
        var stop = new Option<string?>("--stop-tokens") { Description = "comma-separated ids that end generation (default: the config's eos_token_id)" };
        var speculative = new Option<int?>("--speculative")
        {
            Description = "MTP drafts per step, fixed (0 = plain decoding). Default: adaptive, up to all of the checkpoint's MTP layers",
        };
        var threads = Cli.ThreadsOption();
        var quant = Cli.QuantOption();
        var kvCache = Cli.KvCacheOption();
        var json = Cli.JsonOption();
        var sampling = new SamplingCliOptions();
        var cmd = new Command("generate", "generate tokens from a prompt") { text, model, quant, kvCache, promptOption, tokens, maxTokens, stop, speculative, threads, json };
        sampling.AddTo(cmd);
        cmd.SetAction(r => Cli.Run(() =>
        {
            string dir = Cli.ResolveModel(r.GetValue(model));
            using var m = Cli.LoadModel(dir, r.GetValue(quant), Cli.Threads(r, threads), r.GetValue(kvCache)!);
            var tokenizer = Cli.TryLoadTokenizer(dir);
            string? promptText = r.GetValue(promptOption) ?? r.GetValue(text);
            string? tokenText = r.GetValue(tokens);
            int[] prompt;
            if (tokenText is not null && promptText is not null)
                throw new ArgumentException("give either a text prompt or --tokens, not both");
            if (tokenText is not null) prompt = Cli.ParseTokens(tokenText);
            else if (promptText is not null)
                prompt = (tokenizer ?? throw new ArgumentException($"a text prompt needs {Path.Combine(dir, "tokenizer.json")}; use --tokens instead"))
                    .Encode(promptText);
            else throw new ArgumentException("no prompt: give prompt text or --tokens 1,2,3");

            if (r.GetValue(maxTokens) < 0) throw new ArgumentException($"--max-tokens must be ≥ 0, got {r.GetValue(maxTokens)}");
            int? fixedK = r.GetValue(speculative);
            int k = fixedK ?? m.MtpLayers.Count;
            if (k < 0 || k > m.MtpLayers.Count)
                throw new ArgumentException($"--speculative {k} is out of range: this checkpoint has {m.MtpLayers.Count} MTP layers");
            var options = new GenerationOptions
            {
                MaxTokens = r.GetValue(maxTokens),
                Sampling = sampling.Read(r),
                StopTokens = r.GetValue(stop) is string s ? Cli.ParseTokens(s) : m.Config.EosTokenIds,
                Speculative = k,
                // A timing-driven depth changes how random draws are consumed, so with a seed the depth stays fixed.
                AdaptiveSpeculation = fixedK is null && (r.GetValue(sampling.Temperature) == 0 || r.GetValue(sampling.Seed) is null),
            };
            var generator = new Generator(m, options);
            bool asJson = r.GetValue(json);
            var decoder = tokenizer?.CreateStreamingDecoder();
            var generated = new List<int>();
            var textOut = new System.Text.StringBuilder();
            foreach (int id in generator.Generate(prompt))
            {
                generated.Add(id);
                string piece = decoder is null ? (generated.Count == 1 ? $"{id}" : $" {id}") : decoder.Push(id);
                textOut.Append(piece);
                if (!asJson)
                {
                    Console.Out.Write(piece);
                    Console.Out.Flush();
                }
            }
            if (decoder is not null)
            {
                string tail = decoder.Flush();
                textOut.Append(tail);
                if (!asJson) Console.Out.Write(tail);
            }
            var st = generator.Stats;
            if (asJson)
            {
                Cli.WriteJson(new
                {
                    prompt_ids = prompt,
                    generated_ids = generated,
                    text = decoder is null ? null : textOut.ToString(),
                    prompt_tokens = st.PromptTokens,
                    generated_tokens = st.GeneratedTokens,
                    prefill_tokens_per_s = st.PrefillTokensPerSecond,
                    decode_tokens_per_s = st.DecodeTokensPerSecond,
                    speculative = new
                    {
                        k = st.DraftDepth,
                        adaptive = options.AdaptiveSpeculation,
                        acceptance_length = st.AcceptanceLength,
                        accepted_per_depth = st.AcceptedPerDepth,
                        drafts_proposed = st.DraftsProposed,
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

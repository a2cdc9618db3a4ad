using System.CommandLine;
using MimoSharp.Inference;
using MimoSharp.Text;

namespace MimoSharp.Cli.Commands;

/// <summary><c>mimo chat</c>: an interactive multi-turn conversation in the terminal, in MiMo's chat format.</summary>
internal static class ChatCommand
{
    public static Command Create()
    {
        var model = Cli.ModelOption();
        var system = new Option<string?>("--system") { Description = "system prompt (default: none)" };
        var think = new Option<bool>("--think") { Description = "thinking mode: the model reasons inside <think>…</think> first" };
        var maxTokens = new Option<int>("--max-tokens", "-n") { Description = "tokens per reply", DefaultValueFactory = _ => 256 };
        var speculative = new Option<int?>("--speculative") { Description = "MTP drafts per step, fixed (default: adaptive up to all MTP layers)" };
        var threads = Cli.ThreadsOption();
        var kvCache = Cli.KvCacheOption();
        var sampling = new SamplingCliOptions();
        var cmd = new Command("chat", "chat with a model in the terminal (/exit or end of input quits, /reset clears history)")
            { model, system, think, maxTokens, speculative, threads, kvCache };
        sampling.AddTo(cmd);
        cmd.SetAction(r => Cli.Run(() =>
        {
            string dir = Cli.ResolveModel(r.GetValue(model));
            using var m = Cli.LoadModel(dir, quant: null, Cli.Threads(r, threads), r.GetValue(kvCache)!);
            var tokenizer = Cli.TryLoadTokenizer(dir)
                ?? throw new ArgumentException($"chat needs {Path.Combine(dir, "tokenizer.json")}");
            var stops = new List<int>(m.Config.EosTokenIds);
            foreach (var name in new[] { "<|im_end|>", "<|endoftext|>" })
                if (tokenizer.TryGetId(name, out int id) && id < m.VocabSize) stops.Add(id);
            var options = new GenerationOptions
            {
                MaxTokens = r.GetValue(maxTokens),
                Sampling = sampling.Read(r),
                StopTokens = stops,
                Speculative = r.GetValue(speculative) ?? m.MtpLayers.Count,
                // A timing-driven depth changes how random draws are consumed, so with a seed the depth stays fixed.
                AdaptiveSpeculation = r.GetValue(speculative) is null && (r.GetValue(sampling.Temperature) == 0 || r.GetValue(sampling.Seed) is null),
            };
            var history = new List<ChatMessage>();
            if (r.GetValue(system) is string sys) history.Add(ChatMessage.System(sys));
            bool thinking = r.GetValue(think);
            bool interactive = !Console.IsInputRedirected;
            // One generator for the session: the adaptive depth policy keeps what earlier turns measured.
            var generator = new Generator(m, options);
            while (true)
            {
                if (interactive) Console.Error.Write("> ");
                string? line = Console.In.ReadLine();
                if (line is null || line.Trim() == "/exit") break;
                if (line.Trim() == "/reset")
                {
                    history.RemoveAll(x => x.Role != ChatRole.System);
                    continue;
                }
                if (line.Length == 0) continue;
                history.Add(ChatMessage.User(line));
                var prompt = tokenizer.Encode(ChatTemplate.Render(history, tools: null, enableThinking: thinking, addGenerationPrompt: true));
                var decoder = tokenizer.CreateStreamingDecoder(skipSpecial: true);
                var parser = new ChatOutputParser(startInReasoning: thinking);
                foreach (int id in generator.Generate(prompt))
                {
                    if (stops.Contains(id)) break;
                    Show(parser.Push(decoder.Push(id)));
                }
                Show(parser.Push(decoder.Flush()));
                Show(parser.Finish());
                Console.Out.WriteLine();
                history.Add(ChatMessage.Assistant(parser.Content, parser.ReasoningContent));
                Console.Error.WriteLine($"[{generator.Stats.GeneratedTokens} tokens, {generator.Stats.DecodeTokensPerSecond:F1} tok/s]");
            }
            return 0;
        }));
        return cmd;
    }

    private static void Show(ChatOutputDelta delta)
    {
        // Reasoning goes to stderr so stdout carries only the answer.
        if (delta.Reasoning.Length > 0) Console.Error.Write(delta.Reasoning);
        if (delta.Content.Length > 0) Console.Out.Write(delta.Content);
        foreach (var call in delta.ToolCalls) Console.Out.Write($"[tool call {call.Name}({call.ArgumentsJson})]");
        Console.Out.Flush();
    }
}

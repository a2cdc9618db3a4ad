using MimoSharp.Inference;
using MimoSharp.Server.Engine;

namespace MimoSharp.Server.Tests.Support;

/// <summary>
/// A stand-in for the batch scheduler that "generates" a fixed text, so reasoning, tool calls and stop
/// strings can be checked through the real HTTP and IChatClient paths. It honours max tokens and stop
/// tokens as a decoding sequence does, emitting one token per step, and records every prompt.
/// </summary>
internal sealed class ScriptedQueue(Func<IReadOnlyList<int>, int[]> script) : IGenerationQueue
{
    public List<int[]> Prompts { get; } = [];

    public static MimoEngine Engine(Func<IReadOnlyList<int>, int[]> script, out ScriptedQueue queue)
    {
        var q = new ScriptedQueue(script);
        queue = q;
        return new MimoEngine((_, _) => q, new ModelLimits(384, 4096, 0, []), TestModel.Tokenizer, new EngineOptions { ModelId = "scripted" });
    }

    /// <summary>An engine whose model answers every prompt with <paramref name="text"/> then &lt;|im_end|&gt;.</summary>
    public static MimoEngine Answering(string text, out ScriptedQueue queue) =>
        Engine(_ => TestModel.Tokenizer.Encode(text + "<|im_end|>"), out queue);

    public GenerationTicket Submit(IReadOnlyList<int> prompt, GenerationOptions options, CancellationToken cancellation)
    {
        lock (Prompts) Prompts.Add(prompt.ToArray());
        var ticket = new GenerationTicket(prompt.Count);
        int[] ids = script(prompt);
        var stops = new HashSet<int>(options.StopTokens);
        for (int i = 0; i < ids.Length; i++)
        {
            ticket.Publish([ids[i]]);
            if (stops.Contains(ids[i]))
            {
                ticket.Complete(FinishReason.Stop);
                return ticket;
            }
            if (i + 1 == options.MaxTokens) break;
        }
        ticket.Complete(FinishReason.Length);
        return ticket;
    }

    public void Dispose() { }
}

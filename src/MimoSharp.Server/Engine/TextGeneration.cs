using System.Runtime.CompilerServices;
using System.Text;
using MimoSharp.Inference;
using MimoSharp.Text;

namespace MimoSharp.Server.Engine;

/// <summary>
/// One request's output as text while it is generated: stop-token ids are dropped, UTF-8 is decoded across
/// token boundaries, and the text ends at the first stop string (which cancels the sequence at once, freeing
/// its slot). Read it once with <see cref="ReadAsync"/>; the counters are final when reading ends.
/// </summary>
public sealed class TextGeneration
{
    private readonly GenerationTicket _ticket;
    private readonly StreamingDecoder _decoder;
    private readonly int[] _stopIds;
    private readonly StopStringMatcher _stops;
    private int _reads;

    internal TextGeneration(GenerationTicket ticket, Tokenizer tokenizer, int[] stopIds, IReadOnlyList<string> stops)
    {
        _ticket = ticket;
        _decoder = tokenizer.CreateStreamingDecoder(skipSpecial: true);
        _stopIds = stopIds;
        _stops = new StopStringMatcher(stops);
    }

    public int PromptTokens => _ticket.PromptTokens;

    /// <summary>Tokens the model generated for this request (a stop token included, as OpenAI counts it).</summary>
    public int CompletionTokens => _ticket.GeneratedTokens;

    /// <summary>Time to first token, tokens per second and MTP acceptance length; final when reading ends.</summary>
    public GenerationTimings Timings => _ticket.Timings;

    /// <summary>"stop" (a stop token or stop string) or "length" (max_tokens or the context ran out); null until the end.</summary>
    public string? FinishReason { get; private set; }

    /// <summary>Yields text as it is generated. Cancelling the token (or abandoning the enumeration) cancels the sequence.</summary>
    public async IAsyncEnumerable<string> ReadAsync([EnumeratorCancellation] CancellationToken cancellation = default)
    {
        if (Interlocked.Increment(ref _reads) != 1) throw new InvalidOperationException("a generation can be read only once");
        var text = new StringBuilder();
        try
        {
            await foreach (int[] ids in _ticket.Tokens.ReadAllAsync(cancellation).ConfigureAwait(false))
            {
                text.Clear();
                foreach (int id in ids)   // a span search, not LINQ's Contains over an interface: this runs per token
                    if (!_stopIds.AsSpan().Contains(id)) text.Append(_decoder.Push(id));
                string ready = _stops.Push(text.ToString());
                if (ready.Length > 0) yield return ready;
                if (_stops.Stopped) break;
            }
            if (!_stops.Stopped)
            {
                string tail = _stops.Push(_decoder.Flush());
                tail += _stops.Flush();
                if (tail.Length > 0) yield return tail;
            }
            FinishReason = _stops.Stopped || _ticket.FinishReason == Inference.FinishReason.Stop ? "stop" : "length";
        }
        finally
        {
            // A stop string, a cancelled token or a caller that stopped reading: the sequence must not run on.
            if (FinishReason is null || _stops.Stopped) _ticket.Cancel();
        }
    }
}

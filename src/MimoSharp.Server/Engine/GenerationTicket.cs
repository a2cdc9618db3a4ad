using System.Threading.Channels;
using MimoSharp.Inference;

namespace MimoSharp.Server.Engine;

/// <summary>
/// One request's place in a <see cref="IGenerationQueue"/>: the token ids each decoding step emitted for it
/// arrive on <see cref="Tokens"/>, which completes when the sequence ends (or faults when the engine fails).
/// The scheduler writes; one reader consumes. <see cref="Cancel"/> may be called from any thread.
/// </summary>
internal sealed class GenerationTicket
{
    private readonly Channel<int[]> _tokens = Channel.CreateUnbounded<int[]>(
        new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });
    private readonly long _submitted = System.Diagnostics.Stopwatch.GetTimestamp();
    private long _firstToken, _lastToken;
    private int _firstChunkTokens, _chunks;
    private int _cancelRequested;

    /// <param name="draftDepth">MTP drafts per step the sequence runs with (reported in <see cref="Timings"/>).</param>
    public GenerationTicket(int promptTokens, int draftDepth = 0)
    {
        PromptTokens = promptTokens;
        DraftDepth = draftDepth;
    }

    public int PromptTokens { get; }

    public int DraftDepth { get; }

    /// <summary>Time to first token, decoding speed and acceptance length (read it after <see cref="Tokens"/> completes).</summary>
    public GenerationTimings Timings =>
        GenerationTimings.From(_submitted, _firstToken, _lastToken, _firstChunkTokens, GeneratedTokens, _chunks, DraftDepth);

    /// <summary>Tokens emitted so far (the scheduler's count; read it after <see cref="Tokens"/> completes).</summary>
    public int GeneratedTokens { get; private set; }

    /// <summary>Why the sequence ended; null while it runs.</summary>
    public FinishReason? FinishReason { get; private set; }

    public ChannelReader<int[]> Tokens => _tokens.Reader;

    public bool CancelRequested => Volatile.Read(ref _cancelRequested) != 0;

    /// <summary>Called once on the first <see cref="Cancel"/>: the scheduler uses it to wake up and drop the sequence.</summary>
    internal Action? OnCancel { get; set; }

    /// <summary>Asks the scheduler to stop this sequence and free its slot and cache before its next step.</summary>
    public void Cancel()
    {
        if (Interlocked.Exchange(ref _cancelRequested, 1) == 0) OnCancel?.Invoke();
    }

    internal void Publish(IReadOnlyList<int> ids)
    {
        if (ids.Count == 0) return;
        var chunk = new int[ids.Count];
        for (int i = 0; i < chunk.Length; i++) chunk[i] = ids[i];
        long now = System.Diagnostics.Stopwatch.GetTimestamp();
        if (_chunks++ == 0)
        {
            _firstToken = now;
            _firstChunkTokens = chunk.Length;
        }
        _lastToken = now;
        GeneratedTokens += chunk.Length;
        _tokens.Writer.TryWrite(chunk);
    }

    internal void Complete(FinishReason reason)
    {
        FinishReason = reason;
        _tokens.Writer.TryComplete();
    }

    internal void Fail(Exception error) => _tokens.Writer.TryComplete(error);
}

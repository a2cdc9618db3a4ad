using System.Diagnostics;
using MimoSharp.Inference;

namespace MimoSharp.Server.Engine;

/// <summary>
/// Counters and gauges of one engine, safe to read from any thread while the scheduler writes them:
/// what /metrics exposes. Totals only grow; gauges describe the moment they are read.
/// </summary>
public sealed class EngineMetrics
{
    private static readonly TimeSpan RateWindow = TimeSpan.FromSeconds(10);

    private long _finishedStop, _finishedLength, _cancelled, _failed, _rejected;
    private long _promptTokens, _generatedTokens, _steps, _verifySteps, _verifyTokens;
    private int _running, _queued;
    private long _kvCacheBytes;
    private readonly Queue<(long Ticks, int Tokens)> _recent = new();   // emitted tokens per step, last RateWindow
    private readonly Stopwatch _clock = Stopwatch.StartNew();

    public long RequestsFinishedStop => Interlocked.Read(ref _finishedStop);
    public long RequestsFinishedLength => Interlocked.Read(ref _finishedLength);
    public long RequestsCancelled => Interlocked.Read(ref _cancelled);
    public long RequestsFailed => Interlocked.Read(ref _failed);

    /// <summary>Requests turned away because the queue was full.</summary>
    public long RequestsRejected => Interlocked.Read(ref _rejected);

    public long PromptTokens => Interlocked.Read(ref _promptTokens);
    public long GeneratedTokens => Interlocked.Read(ref _generatedTokens);

    /// <summary>Forward passes of the main model (one per scheduler step, whatever the batch size).</summary>
    public long Steps => Interlocked.Read(ref _steps);

    /// <summary>Tokens per decoding (verify) step over every finished sequence; 1 without speculative decoding.</summary>
    public double AcceptanceLength
    {
        get
        {
            long steps = Interlocked.Read(ref _verifySteps);
            return steps > 0 ? (double)Interlocked.Read(ref _verifyTokens) / steps : 0;
        }
    }

    public int RunningSequences => Volatile.Read(ref _running);
    public int QueuedRequests => Volatile.Read(ref _queued);

    /// <summary>KV-cache bytes held by the running sequences (main and MTP caches).</summary>
    public long KvCacheBytes => Interlocked.Read(ref _kvCacheBytes);

    /// <summary>Generated tokens per second over the last ten seconds.</summary>
    public double TokensPerSecond
    {
        get
        {
            lock (_recent)
            {
                Prune(_clock.Elapsed.Ticks);
                long sum = 0;
                foreach (var (_, tokens) in _recent) sum += tokens;
                double seconds = Math.Min(RateWindow.TotalSeconds, _clock.Elapsed.TotalSeconds);
                return seconds > 0 ? sum / seconds : 0;
            }
        }
    }

    internal void Rejected() => Interlocked.Increment(ref _rejected);

    internal void SetOccupancy(int running, int queued)
    {
        Volatile.Write(ref _running, running);
        Volatile.Write(ref _queued, queued);
    }

    internal void SetKvCacheBytes(long bytes) => Interlocked.Exchange(ref _kvCacheBytes, bytes);

    internal void StepDone(int emittedTokens)
    {
        Interlocked.Increment(ref _steps);
        Interlocked.Add(ref _generatedTokens, emittedTokens);
        long now = _clock.Elapsed.Ticks;
        lock (_recent)
        {
            _recent.Enqueue((now, emittedTokens));
            Prune(now);
        }
    }

    internal void Finished(FinishReason? reason, GenerationStats? stats, bool failed = false)
    {
        if (failed) Interlocked.Increment(ref _failed);
        else if (reason == FinishReason.Stop) Interlocked.Increment(ref _finishedStop);
        else if (reason == FinishReason.Length) Interlocked.Increment(ref _finishedLength);
        else Interlocked.Increment(ref _cancelled);
        if (stats is null) return;
        Interlocked.Add(ref _promptTokens, stats.PromptTokens);
        long steps = 0, tokens = 0;
        for (int a = 0; a < stats.AcceptedHistogram.Length; a++)
        {
            steps += stats.AcceptedHistogram[a];
            tokens += stats.AcceptedHistogram[a] * (a + 1);
        }
        Interlocked.Add(ref _verifySteps, steps);
        Interlocked.Add(ref _verifyTokens, tokens);
    }

    private void Prune(long now)
    {
        while (_recent.Count > 0 && now - _recent.Peek().Ticks > RateWindow.Ticks) _recent.Dequeue();
    }
}

using MimoSharp.Inference;
using MimoSharp.Model;

namespace MimoSharp.Server.Engine;

/// <summary>
/// Continuous batching: one background thread owns the model and a <see cref="BatchDecoder"/> and runs steps
/// forever. Between steps it drops cancelled and finished sequences (their caches go with them), then admits
/// queued ones up to the running limit; each step is ONE forward pass in which new sequences prefill and
/// running ones decode. Every sequence has its own caches and sampler, so its tokens with a given seed do not
/// depend on its neighbours. Emitted ids go to each request's <see cref="GenerationTicket"/>.
/// </summary>
internal sealed class BatchScheduler : IGenerationQueue
{
    private readonly MimoModel _model;
    private readonly BatchDecoder _decoder;
    private readonly EngineMetrics _metrics;
    private readonly int _maxRunning, _maxQueued;
    private readonly object _gate = new();
    private readonly Queue<Entry> _waiting = new();            // under _gate
    private readonly List<Entry> _running = [];                // scheduler thread only
    private readonly List<DecodeSequence> _batch = [];         // the running sequences, as Step wants them
    private readonly AutoResetEvent _wake = new(false);
    private readonly Thread _thread;
    private int _runningCount;                                 // under _gate (admission counts it)
    private volatile bool _stopping;

    /// <summary>A request; its sequence (and so its caches) exists only from admission to the end.</summary>
    private sealed class Entry(GenerationTicket ticket, IReadOnlyList<int> prompt, GenerationOptions options)
    {
        public GenerationTicket Ticket { get; } = ticket;
        public IReadOnlyList<int> Prompt { get; } = prompt;
        public GenerationOptions Options { get; } = options;
        public CancellationTokenRegistration Registration { get; set; }
        public DecodeSequence? Sequence { get; set; }
    }

    public BatchScheduler(MimoModel model, EngineMetrics metrics, int maxRunning, int maxQueued)
    {
        _model = model;
        _decoder = new BatchDecoder(model);
        _metrics = metrics;
        _maxRunning = maxRunning;
        _maxQueued = maxQueued;
        _thread = new Thread(Run) { IsBackground = true, Name = "mimo-batch-scheduler" };
        _thread.Start();
    }

    public GenerationTicket Submit(IReadOnlyList<int> prompt, GenerationOptions options, CancellationToken cancellation)
    {
        cancellation.ThrowIfCancellationRequested();
        // Check now what the sequence's constructor would reject at admission, so the caller gets the error.
        options.Validate(_model.MtpLayers.Count);
        DecodeSequence.ValidatePrompt(_model, prompt);
        var ticket = new GenerationTicket(prompt.Count, options.Speculative);
        var entry = new Entry(ticket, prompt.ToArray(), options);
        lock (_gate)
        {
            if (_stopping) throw new ServerBusyException("the server is shutting down", TimeSpan.FromSeconds(5), shuttingDown: true);
            // Capacity is running slots plus queue places: a request that finds a free slot never counts as queued.
            if (_waiting.Count + _runningCount >= _maxRunning + _maxQueued)
            {
                _metrics.Rejected();
                throw new ServerBusyException(
                    $"all {_maxRunning} running slots and {_maxQueued} queue places are taken; retry shortly", TimeSpan.FromSeconds(1));
            }
            ticket.OnCancel = () => _wake.Set();
            entry.Registration = cancellation.Register(static t => ((GenerationTicket)t!).Cancel(), ticket);
            _waiting.Enqueue(entry);
            _metrics.SetOccupancy(_runningCount, _waiting.Count);
        }
        _wake.Set();
        return ticket;
    }

    private void Run()
    {
        while (true)
        {
            if (!Admit()) return;
            if (_running.Count == 0)
            {
                _wake.WaitOne();
                continue;
            }
            try
            {
                _decoder.Step(_batch);
            }
            catch (Exception e)
            {
                // A failed pass leaves every sequence in it in an unknown state: end them all, keep serving others.
                foreach (var entry in _running) End(entry, e);
                _running.Clear();
                _batch.Clear();
                continue;
            }
            int emitted = 0;
            foreach (var entry in _running)
            {
                var last = entry.Sequence!.LastEmitted;
                entry.Ticket.Publish(last);
                emitted += last.Count;
            }
            _metrics.StepDone(emitted);
        }
    }

    /// <summary>Between steps: retire finished and cancelled sequences, admit waiting ones. False once stopping.</summary>
    private bool Admit()
    {
        for (int i = _running.Count - 1; i >= 0; i--)
        {
            var entry = _running[i];
            var sequence = entry.Sequence!;
            if (entry.Ticket.CancelRequested) sequence.Cancel();
            if (!sequence.IsFinished) continue;
            End(entry, null);
            _running.RemoveAt(i);
            _batch.RemoveAt(i);
        }
        lock (_gate)
        {
            if (_stopping)
            {
                foreach (var entry in _running) End(entry, new ServerBusyException("the server shut down", TimeSpan.FromSeconds(5), shuttingDown: true));
                while (_waiting.TryDequeue(out var entry)) End(entry, new ServerBusyException("the server shut down", TimeSpan.FromSeconds(5), shuttingDown: true));
                _running.Clear();
                _batch.Clear();
                _runningCount = 0;
                _metrics.SetOccupancy(0, 0);
                _metrics.SetKvCacheBytes(0);
                return false;
            }
            // Cancelled while waiting: leave without ever running.
            if (_waiting.Count > 0 && HasCancelled(_waiting))
            {
                var keep = new Queue<Entry>(_waiting.Count);
                while (_waiting.TryDequeue(out var entry))
                {
                    if (entry.Ticket.CancelRequested) End(entry, null);
                    else keep.Enqueue(entry);
                }
                while (keep.TryDequeue(out var entry)) _waiting.Enqueue(entry);
            }
            while (_running.Count < _maxRunning && _waiting.TryDequeue(out var next))
            {
                try
                {
                    next.Sequence = new DecodeSequence(_model, next.Prompt, next.Options);
                }
                catch (Exception e) when (e is ArgumentException or InvalidOperationException or OutOfMemoryException)
                {
                    End(next, e);
                    continue;
                }
                if (next.Sequence.IsFinished)   // max_tokens 0: nothing to run
                {
                    End(next, null);
                    continue;
                }
                _running.Add(next);
                _batch.Add(next.Sequence);
            }
            _runningCount = _running.Count;
            // Cache bytes first: whoever sees a slot freed must also see its cache gone.
            long bytes = 0;
            foreach (var entry in _running) bytes += entry.Sequence!.Caches.AllocatedBytes;
            _metrics.SetKvCacheBytes(bytes);
            _metrics.SetOccupancy(_runningCount, _waiting.Count);
        }
        return true;
    }

    private static bool HasCancelled(Queue<Entry> queue)
    {
        foreach (var entry in queue) if (entry.Ticket.CancelRequested) return true;
        return false;
    }

    /// <summary>Ends a request (finished, cancelled or failed) and lets go of its sequence and caches.</summary>
    private void End(Entry entry, Exception? error)
    {
        entry.Registration.Dispose();
        var sequence = entry.Sequence;
        entry.Sequence = null;
        if (error is not null)
        {
            _metrics.Finished(null, sequence?.Stats, failed: true);
            entry.Ticket.Fail(error);
            return;
        }
        sequence?.Cancel();
        var reason = sequence?.FinishReason ?? FinishReason.Cancelled;
        _metrics.Finished(reason, sequence?.Stats);
        entry.Ticket.Complete(reason);
    }

    public void Dispose()
    {
        lock (_gate) _stopping = true;
        _wake.Set();
        _thread.Join();
        // _wake is not disposed: a request thread may still cancel its (already ended) ticket and Set() it.
    }
}

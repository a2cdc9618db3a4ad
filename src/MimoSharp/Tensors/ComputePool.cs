using System.Runtime.CompilerServices;

namespace MimoSharp.Tensors;

/// <summary>The body of a <see cref="ComputePool.For{TBody}"/> loop: job <c>index</c> of the loop.</summary>
public interface IParallelBody
{
    void Run(int index);
}

/// <summary>
/// A small pool of persistent worker threads for the kernels. Decoding issues hundreds of short parallel
/// loops per token; waking workers through the thread pool costs more than many of those loops take, so
/// workers spin briefly for the next loop before they sleep. The calling thread always takes part.
/// The pool is one per process on purpose: its workers spin on the cores between loops, so a second set would
/// fight the first for them, and one loop runs at a time anyway. How many threads a loop uses is a setting of the
/// code that starts it: a model's <c>Threads</c> load option (applied through <see cref="UseThreads"/> while the
/// model computes), else the process-wide default <see cref="Threads"/>.
/// </summary>
public static class ComputePool
{
    private static readonly object s_gate = new();
    private static Worker[] s_workers = [];
    private static int s_threads = Environment.ProcessorCount;

    private static readonly Loop s_loop = new();

    [ThreadStatic]
    private static bool t_insideLoop;
    private static long s_generation;

    [ThreadStatic]
    private static int t_threads;      // the innermost UseThreads scope of this thread; 0 = none

    /// <summary>Process-wide default: threads a parallel loop may use, the caller included, where no <see cref="UseThreads"/> scope says otherwise (every core unless set).</summary>
    public static int Threads
    {
        get => s_threads;
        set => s_threads = Math.Max(1, value);
    }

    /// <summary>Threads a parallel loop started on this thread now may use, the caller included.</summary>
    public static int CurrentThreads => t_threads > 0 ? t_threads : s_threads;

    /// <summary>
    /// Until the scope is disposed, loops this thread starts (and loops their bodies start) use <paramref name="threads"/>
    /// threads; null leaves the current setting. Scopes nest; allocates nothing.
    /// </summary>
    public static ThreadsScope UseThreads(int? threads)
    {
        if (threads is < 1) throw new ArgumentOutOfRangeException(nameof(threads), $"threads must be ≥ 1, got {threads}");
        int outer = t_threads;
        if (threads is int n) t_threads = n;
        return new ThreadsScope(outer);
    }

    /// <summary>Restores the thread count that was in force before <see cref="UseThreads"/>.</summary>
    public readonly ref struct ThreadsScope(int outer)
    {
        public void Dispose() => t_threads = outer;
    }

    /// <summary>Runs body(0..jobs-1) on up to <see cref="CurrentThreads"/> threads and returns when all are done.</summary>
    public static void For(int jobs, Action<int> body)
    {
        var job = new DelegateBody(body);
        For(jobs, ref job);
    }

    /// <summary>
    /// Runs body.Run(0..jobs-1) on up to <see cref="CurrentThreads"/> threads and returns when all are done. The body is a
    /// struct on the caller's stack, read in place by the workers, so a parallel loop allocates no closure (kernels
    /// run hundreds of these per token). <paramref name="body"/> must be a local variable.
    /// </summary>
    public static unsafe void For<TBody>(int jobs, ref TBody body) where TBody : struct, IParallelBody
    {
        if (jobs <= 0) return;
        int current = CurrentThreads, threads = Math.Min(current, jobs);
        // A loop started from inside another loop's body runs inline: the workers are already busy.
        if (threads == 1 || t_insideLoop)
        {
            for (int i = 0; i < jobs; i++) body.Run(i);
            return;
        }
        lock (s_gate)
        {
            EnsureWorkers(threads - 1);
            long generation = ++s_generation;
            s_loop.Open(generation, &Invoke<TBody>, Unsafe.AsPointer(ref body), jobs, current);
            for (int w = 0; w < threads - 1; w++) s_workers[w].Wake(generation);
            s_loop.Drain(generation);
            var spin = new SpinWait();
            while (Volatile.Read(ref s_loop.Pending) > 0) spin.SpinOnce(sleep1Threshold: -1);
            if (s_loop.Error is Exception error)
            {
                s_loop.Error = null;
                System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(error);
            }
        }
    }

    private static unsafe void Invoke<TBody>(void* body, int index) where TBody : struct, IParallelBody => Unsafe.AsRef<TBody>(body).Run(index);

    private readonly struct DelegateBody(Action<int> body) : IParallelBody
    {
        public void Run(int index) => body(index);
    }

    /// <summary>
    /// The parallel loop, one object reused by every loop (one runs at a time) so that starting a loop allocates nothing.
    /// A worker may arrive late, even loops later, so a job is claimed with one compare-and-swap of <see cref="_claim"/>,
    /// which holds the loop's generation (high 32 bits) beside the next job index: a claim succeeds only while the loop it
    /// read the fields of is still the open one, and the fields of the next loop are written only after the claim word
    /// has moved on (a late worker's claim then fails and it leaves).
    /// </summary>
    private sealed unsafe class Loop
    {
        private long _claim = Closed;      // generation << 32 | next job index
        private delegate*<void*, int, void> _invoke;
        private void* _body;
        private int _jobs, _threads;
        public int Pending;
        public Exception? Error;

        private const long Closed = uint.MaxValue;   // generation 0 (never used), no job index available

        /// <summary>Publishes loop <paramref name="generation"/> (the previous one has finished: its Pending is 0).</summary>
        public void Open(long generation, delegate*<void*, int, void> invoke, void* body, int jobs, int threads)
        {
            Interlocked.Exchange(ref _claim, Closed);   // late workers of the previous loop can claim nothing from here on
            _invoke = invoke;
            _body = body;
            _jobs = jobs;
            _threads = threads;
            Pending = jobs;
            Interlocked.Exchange(ref _claim, (long)(uint)generation << 32);
        }

        /// <summary>Runs jobs of loop <paramref name="generation"/> until none is left; returns at once when that loop is over.</summary>
        public void Drain(long generation)
        {
            bool outer = t_insideLoop;
            int outerThreads = t_threads;
            t_insideLoop = true;
            try
            {
                while (true)
                {
                    long claim = Volatile.Read(ref _claim);
                    if ((uint)(claim >> 32) != (uint)generation) return;
                    // Read before the claim; valid for this loop only if the claim below succeeds.
                    int index = (int)claim, jobs = _jobs, threads = _threads;
                    var invoke = _invoke;
                    void* body = _body;
                    if (index >= jobs) return;
                    if (Interlocked.CompareExchange(ref _claim, claim + 1, claim) != claim) continue;
                    t_threads = threads;        // a body on a worker sees the thread count of the code that started the loop
                    try
                    {
                        invoke(body, index);
                    }
                    catch (Exception e)
                    {
                        Error ??= e;
                    }
                    finally
                    {
                        Interlocked.Decrement(ref Pending);
                    }
                }
            }
            finally
            {
                t_insideLoop = outer;
                t_threads = outerThreads;
            }
        }
    }

    private static void EnsureWorkers(int count)
    {
        if (s_workers.Length >= count) return;
        var workers = new Worker[count];
        Array.Copy(s_workers, workers, s_workers.Length);
        for (int i = s_workers.Length; i < count; i++) workers[i] = new Worker(i);
        s_workers = workers;
    }

    private sealed class Worker
    {
        private readonly ManualResetEventSlim _signal = new(false, spinCount: 0);
        private long _seen;
        private long _wanted;

        public Worker(int index)
        {
            var thread = new Thread(Loop) { IsBackground = true, Name = $"mimo-compute-{index}" };
            thread.Start();
        }

        public void Wake(long generation)
        {
            Volatile.Write(ref _wanted, generation);
            _signal.Set();
        }

        private void Loop()
        {
            while (true)
            {
                // Spin for a short while: the next loop of the same token usually follows within microseconds.
                var spin = new SpinWait();
                long start = Environment.TickCount64;
                while (Volatile.Read(ref _wanted) == _seen)
                {
                    if (Environment.TickCount64 - start > 2)
                    {
                        _signal.Wait();
                        _signal.Reset();
                        start = Environment.TickCount64;
                        continue;
                    }
                    spin.SpinOnce(sleep1Threshold: -1);
                }
                _seen = Volatile.Read(ref _wanted);
                s_loop.Drain(_seen);
            }
        }
    }
}

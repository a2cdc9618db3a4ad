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

    private static Loop? s_current;

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
            var loop = new Loop(&Invoke<TBody>, Unsafe.AsPointer(ref body), jobs, current);
            Volatile.Write(ref s_current, loop);
            long generation = Interlocked.Increment(ref s_generation);
            for (int w = 0; w < threads - 1; w++) s_workers[w].Wake(generation);
            loop.Drain();
            var spin = new SpinWait();
            while (Volatile.Read(ref loop.Pending) > 0) spin.SpinOnce(sleep1Threshold: -1);
            if (loop.Error is not null) System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(loop.Error);
        }
    }

    private static unsafe void Invoke<TBody>(void* body, int index) where TBody : struct, IParallelBody => Unsafe.AsRef<TBody>(body).Run(index);

    private readonly struct DelegateBody(Action<int> body) : IParallelBody
    {
        public void Run(int index) => body(index);
    }

    /// <summary>One parallel loop; workers that arrive late find no jobs left and touch nothing.</summary>
    private sealed unsafe class Loop(delegate*<void*, int, void> invoke, void* body, int count, int threads)
    {
        private readonly int _jobs = count;
        public int Next;
        public int Pending = count;
        public Exception? Error;

        public void Drain()
        {
            bool outer = t_insideLoop;
            int outerThreads = t_threads;
            t_insideLoop = true;
            t_threads = threads;        // a body on a worker sees the thread count of the code that started the loop
            try
            {
                DrainJobs();
            }
            finally
            {
                t_insideLoop = outer;
                t_threads = outerThreads;
            }
        }

        private void DrainJobs()
        {
            int i;
            while ((i = Interlocked.Increment(ref Next) - 1) < _jobs)
            {
                try
                {
                    invoke(body, i);
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
                Volatile.Read(ref s_current)?.Drain();
            }
        }
    }
}

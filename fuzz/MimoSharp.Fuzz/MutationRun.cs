using System.Diagnostics;

namespace MimoSharp.Fuzz;

/// <summary>What one input did that it must not: an escaped exception, a slow read or a huge allocation.</summary>
public sealed record FuzzFinding(string Target, int Index, string Problem, byte[] Input);

/// <summary>Counts and findings of one in-process run over one target.</summary>
public sealed record MutationReport(string Target, int Executions, int Accepted, int Rejected, TimeSpan Elapsed, IReadOnlyList<FuzzFinding> Findings)
{
    public override string ToString() =>
        $"{Target,-13} {Executions,7} inputs  {Accepted,6} read  {Rejected,7} refused  {Findings.Count,3} findings  " +
        $"{Executions / Math.Max(Elapsed.TotalSeconds, 1e-9),8:F0} exec/s";
}

/// <summary>
/// The in-process mutation run: feeds seeded mutations of a target's seeds to it and records every input that
/// escapes as an unexpected exception, runs longer than <see cref="TimeLimit"/> (a hang) or allocates more than
/// <see cref="AllocationLimit"/> (a lying length field turned into an allocation). Not coverage-guided; the
/// long runs of scripts/fuzz.sh are.
/// </summary>
public sealed class MutationRun(FuzzTarget target, int seed)
{
    public TimeSpan TimeLimit { get; init; } = TimeSpan.FromSeconds(2);
    public long AllocationLimit { get; init; } = 256L << 20;

    public MutationReport Run(int executions, TimeSpan? budget = null)
    {
        var mutator = new Mutator(seed);
        var findings = new List<FuzzFinding>();
        int accepted = 0, rejected = 0, done = 0;
        var total = Stopwatch.StartNew();
        foreach (var s in target.Seeds)
            if (!target.Run(s)) findings.Add(new FuzzFinding(target.Name, -1, "a seed is refused", s));
        for (; done < executions && (budget is null || total.Elapsed < budget); done++)
        {
            byte[] input = mutator.Next(target.Seeds);
            if (Execute(input, done, findings) is bool ok) _ = ok ? accepted++ : rejected++;
        }
        return new MutationReport(target.Name, done, accepted, rejected, total.Elapsed, findings);
    }

    /// <summary>Runs one input under the limits; null when it produced a finding.</summary>
    public bool? Execute(byte[] input, int index, List<FuzzFinding> findings)
    {
        // This thread's allocations: other threads (other tests, the engine's scheduler) must not count against the input.
        long allocated = GC.GetAllocatedBytesForCurrentThread();
        var clock = Stopwatch.StartNew();
        bool ok;
        try
        {
            ok = target.Run(input);
        }
        catch (FuzzFindingException e)
        {
            findings.Add(new FuzzFinding(target.Name, index, $"{e.InnerException!.GetType().Name}: {e.InnerException.Message}\n{e.InnerException.StackTrace}", input));
            return null;
        }
        clock.Stop();
        long bytes = GC.GetAllocatedBytesForCurrentThread() - allocated;
        if (clock.Elapsed > TimeLimit)
        {
            findings.Add(new FuzzFinding(target.Name, index, $"took {clock.Elapsed.TotalMilliseconds:F0} ms (limit {TimeLimit.TotalMilliseconds:F0})", input));
            return null;
        }
        if (bytes > AllocationLimit)
        {
            findings.Add(new FuzzFinding(target.Name, index, $"allocated {bytes >> 20} MiB (limit {AllocationLimit >> 20})", input));
            return null;
        }
        return ok;
    }
}

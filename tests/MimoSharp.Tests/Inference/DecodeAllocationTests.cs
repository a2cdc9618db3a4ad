using MimoSharp.Inference;
using MimoSharp.Model;
using MimoSharp.Tensors;
using MimoSharp.Tests.Support;
using Xunit.Abstractions;

namespace MimoSharp.Tests.Inference;

/// <summary>
/// A steady-state decode step allocates nothing on any thread: plain and speculative, one sequence and a batch,
/// greedy and sampled (every sampling filter on). Counted on both threads that decode: this one and the compute pool's
/// worker. The class runs alone: another test's loops would run on that worker too.
/// </summary>
[Collection(nameof(DecodeAllocationTests))]
public sealed class DecodeAllocationTests(ITestOutputHelper output)
{
    // The prompt is long enough that prefill has grown every global-attention cache (and the drafters' token lists) to
    // 4,096 positions, and the warm-up and measured steps (at most 4 tokens each) end below that: a growing buffer
    // doubles once per power of two of the context, an amortised allocation that is not per step and that this window
    // leaves out. The warm-up is long enough for every buffer and pool size a step uses to have been reached, and for
    // the JIT's tiering to have settled.
    private const int PromptLength = 2_100, WarmupSteps = 120, MeasuredSteps = 200;

    public static TheoryData<string, int, int, bool> Cases()
    {
        var data = new TheoryData<string, int, int, bool>();
        // The fixture (two MTP layers) and the shipped model (three, trained, so drafts are often accepted).
        foreach (var (model, mtpLayers) in new[] { ("tiny_bf16", 2), ("default", 3) })
            foreach (int batch in new[] { 1, 4 })
                for (int drafts = 0; drafts <= mtpLayers; drafts++)
                    foreach (bool sampled in new[] { false, true })
                        data.Add(model, batch, drafts, sampled);
        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void SteadyStateDecodeStepsAllocateNothing(string model, int batch, int drafts, bool sampled)
    {
        string dir = model == "default" ? Path.Combine(Fixtures.RepoRoot, "models", "default") : Fixtures.Dir(model);
        // Two threads whatever the machine, so the compute pool's parallel loops run (and are measured).
        using var m = MimoModel.Load(dir, new ModelLoadOptions { Threads = 2 });
        var random = new Random(11);
        var sequences = new DecodeSequence[batch];
        for (int i = 0; i < batch; i++)
        {
            var prompt = new int[PromptLength];
            for (int j = 0; j < prompt.Length; j++) prompt[j] = random.Next(m.VocabSize);
            var sampling = sampled
                ? new SamplingOptions { Temperature = 0.8f, TopK = 40, TopP = 0.95f, MinP = 0.01f, RepetitionPenalty = 1.1f, Seed = (ulong)(5 + i) }
                : SamplingOptions.Greedy;
            sequences[i] = new DecodeSequence(m, prompt, new GenerationOptions { MaxTokens = 1_500, Speculative = drafts, Sampling = sampling });
        }
        var decoder = new BatchDecoder(m);
        for (int i = 0; i < WarmupSteps; i++) decoder.Step(sequences);   // the prefill (5 chunks), then decode steps

        // Counted on the threads that decode (this one and the compute pool's worker), exactly: the process-wide counter
        // also sees the test host's own threads, which allocate now and then whatever the decoder does.
        var counters = new DecodingThreads();
        var stepsThatAllocated = new List<string>(10);
        long bytes = 0, processBefore = GC.GetTotalAllocatedBytes(precise: true);
        for (int i = 0; i < MeasuredSteps; i++)
        {
            long stepBefore = counters.AllocatedBytes();
            decoder.Step(sequences);
            long step = counters.AllocatedBytes() - stepBefore;
            bytes += step;
            if (step != 0 && stepsThatAllocated.Count < 10) stepsThatAllocated.Add($"step {i}: {step} bytes");
        }
        long process = GC.GetTotalAllocatedBytes(precise: true) - processBefore;

        foreach (var s in sequences) Assert.False(s.IsFinished);
        string name = $"{model} batch {batch} K={drafts} {(sampled ? "sampled" : "greedy")}";
        output.WriteLine($"{name}: {bytes} bytes on the decoding threads in {MeasuredSteps} steps ({(double)bytes / MeasuredSteps:F0} per step); process-wide {process}");
        foreach (var line in stepsThatAllocated) output.WriteLine("  " + line);
        Assert.True(bytes == 0, $"{name}: {bytes} bytes allocated in {MeasuredSteps} steps ({(double)bytes / MeasuredSteps:F0} per step): {string.Join(", ", stepsThatAllocated)}");
    }

    /// <summary>
    /// The bytes allocated so far by the two threads a model loaded with two threads decodes on: this one and the
    /// compute pool's worker (a two-job loop whose jobs wait for each other runs one job on each, and each reads its
    /// own thread's counter). The arrays are made once, so reading allocates nothing.
    /// </summary>
    private sealed class DecodingThreads
    {
        private readonly long[] _bytes = new long[2];
        private readonly int[] _arrived = new int[1];

        public long AllocatedBytes()
        {
            using var threads = ComputePool.UseThreads(2);
            _arrived[0] = 0;
            var job = new ReadCounter(_bytes, _arrived);
            ComputePool.For(2, ref job);
            return _bytes[0] + _bytes[1];
        }

        private readonly struct ReadCounter(long[] bytes, int[] arrived) : IParallelBody
        {
            public void Run(int index)
            {
                Interlocked.Increment(ref arrived[0]);
                var spin = new SpinWait();
                while (Volatile.Read(ref arrived[0]) < 2) spin.SpinOnce(sleep1Threshold: -1);   // both threads are in a job
                bytes[index] = GC.GetAllocatedBytesForCurrentThread();
            }
        }
    }
}

/// <summary>The compute pool's worker is shared by the process: these tests run alone.</summary>
[CollectionDefinition(nameof(DecodeAllocationTests), DisableParallelization = true)]
public sealed class DecodeAllocationCollection;

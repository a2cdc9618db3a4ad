using MimoSharp.Inference;
using MimoSharp.Model;
using MimoSharp.Tests.Support;
using Xunit.Abstractions;

namespace MimoSharp.Tests.Inference;

/// <summary>
/// A steady-state decode step allocates nothing on any thread: plain and speculative, one sequence and a batch,
/// greedy and sampled (every sampling filter on). Measured with the process-wide allocation counter, so the compute
/// pool's workers count too; the class runs alone, since other tests allocating meanwhile would count as well.
/// </summary>
[Collection(nameof(DecodeAllocationTests))]
public sealed class DecodeAllocationTests(ITestOutputHelper output)
{
    // The prompt is long enough that prefill has grown every global-attention cache (and the drafters' token lists) to
    // 2,048 positions, and the measured steps (at most 4 tokens each) end below that: a growing buffer doubles once per
    // power of two of the context, an amortised allocation that is not per step and that this window leaves out.
    private const int PromptLength = 1_100, WarmupSteps = 24, MeasuredSteps = 200;

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
            sequences[i] = new DecodeSequence(m, prompt, new GenerationOptions { MaxTokens = 1_000, Speculative = drafts, Sampling = sampling });
        }
        var decoder = new BatchDecoder(m);
        for (int i = 0; i < WarmupSteps; i++) decoder.Step(sequences);   // the prefill (3 chunks), then decode steps

        long before = GC.GetTotalAllocatedBytes(precise: true);
        for (int i = 0; i < MeasuredSteps; i++) decoder.Step(sequences);
        long bytes = GC.GetTotalAllocatedBytes(precise: true) - before;

        foreach (var s in sequences) Assert.False(s.IsFinished);
        output.WriteLine($"{model} batch {batch} K={drafts} {(sampled ? "sampled" : "greedy")}: {bytes} bytes in {MeasuredSteps} steps ({(double)bytes / MeasuredSteps:F0} per step)");
        Assert.True(bytes == 0, $"{model} batch {batch} K={drafts} {(sampled ? "sampled" : "greedy")}: {bytes} bytes allocated in {MeasuredSteps} steps ({(double)bytes / MeasuredSteps:F0} per step)");
    }
}

/// <summary>The allocation counter is process-wide: these tests run alone.</summary>
[CollectionDefinition(nameof(DecodeAllocationTests), DisableParallelization = true)]
public sealed class DecodeAllocationCollection;

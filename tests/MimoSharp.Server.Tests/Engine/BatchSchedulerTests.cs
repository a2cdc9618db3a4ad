using MimoSharp.Inference;
using MimoSharp.Model;
using MimoSharp.Server.Engine;
using MimoSharp.Server.Tests.Support;

namespace MimoSharp.Server.Tests.Engine;

/// <summary>The scheduler alone: tokens match a solo Generator run, sequences share passes, slots are freed.</summary>
public sealed class BatchSchedulerTests
{
    private static async Task<int[]> DrainAsync(GenerationTicket ticket)
    {
        var ids = new List<int>();
        await foreach (int[] chunk in ticket.Tokens.ReadAllAsync()) ids.AddRange(chunk);
        return ids.ToArray();
    }

    [Fact]
    public async Task SequencesSubmittedTogetherGiveTheirSoloGeneratorOutputs()
    {
        using var model = MimoModel.Load(TestModel.FixtureDir("tiny_bf16"));
        var requests = Enumerable.Range(0, 6).Select(i => (
            Prompt: Enumerable.Range(1, 3 + i).Select(t => (t * 37 + i) % 300).ToArray(),
            Options: new GenerationOptions
            {
                MaxTokens = 10 + i,
                Speculative = i % 3,
                Sampling = i % 2 == 0 ? SamplingOptions.Greedy : new SamplingOptions { Temperature = 0.8f, TopK = 40, Seed = (ulong)i },
            })).ToArray();
        var solo = requests.Select(r => new Generator(model, r.Options).Generate(r.Prompt).ToArray()).ToArray();

        var metrics = new EngineMetrics();
        using var scheduler = new BatchScheduler(model, metrics, maxRunning: 4, maxQueued: 8);
        var tickets = requests.Select(r => scheduler.Submit(r.Prompt, r.Options, CancellationToken.None)).ToArray();
        var outputs = await Task.WhenAll(tickets.Select(DrainAsync));

        for (int i = 0; i < requests.Length; i++)
        {
            Assert.Equal(solo[i], outputs[i]);
            Assert.Equal(FinishReason.Length, tickets[i].FinishReason);
            Assert.Equal(solo[i].Length, tickets[i].GeneratedTokens);
        }
        // Fewer forward passes than the sequences would need one after another.
        Assert.True(metrics.Steps < solo.Sum(s => s.Length), $"{metrics.Steps} passes for {solo.Sum(s => s.Length)} tokens");
        Assert.Equal(0, metrics.RunningSequences);
        Assert.Equal(0, metrics.KvCacheBytes);
        Assert.True(metrics.AcceptanceLength >= 1);
    }

    [Fact]
    public void SubmittingBeyondRunningPlusQueuedIsRefused()
    {
        using var model = MimoModel.Load(TestModel.FixtureDir("tiny_bf16"));
        var metrics = new EngineMetrics();
        using var scheduler = new BatchScheduler(model, metrics, maxRunning: 1, maxQueued: 1);
        var options = new GenerationOptions { MaxTokens = 4000 };
        using var cancel = new CancellationTokenSource();
        scheduler.Submit([1, 2, 3], options, cancel.Token);
        scheduler.Submit([1, 2, 3], options, cancel.Token);
        var busy = Assert.Throws<ServerBusyException>(() => scheduler.Submit([1, 2, 3], options, cancel.Token));
        Assert.False(busy.ShuttingDown);
        Assert.Equal(1, metrics.RequestsRejected);
        cancel.Cancel();
    }

    [Fact]
    public async Task DisposingEndsRunningAndQueuedRequestsWithAnError()
    {
        using var model = MimoModel.Load(TestModel.FixtureDir("tiny_bf16"));
        var scheduler = new BatchScheduler(model, new EngineMetrics(), maxRunning: 1, maxQueued: 4);
        var options = new GenerationOptions { MaxTokens = 4000 };
        var running = scheduler.Submit([1, 2, 3], options, CancellationToken.None);
        var queued = scheduler.Submit([4, 5], options, CancellationToken.None);
        scheduler.Dispose();
        await Assert.ThrowsAsync<ServerBusyException>(() => DrainAsync(running));
        await Assert.ThrowsAsync<ServerBusyException>(() => DrainAsync(queued));
        Assert.True(Assert.Throws<ServerBusyException>(() => scheduler.Submit([1], options, CancellationToken.None)).ShuttingDown);
    }
}

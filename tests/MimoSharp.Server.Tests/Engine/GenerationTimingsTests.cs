using System.Diagnostics;
using MimoSharp.Inference;
using MimoSharp.Server.Engine;

namespace MimoSharp.Server.Tests.Engine;

/// <summary>The figures under each answer (usage.mimo): time to first token, tokens/s, acceptance length.</summary>
public sealed class GenerationTimingsTests
{
    private static readonly long Second = Stopwatch.Frequency;

    [Fact]
    public void FiguresComeFromTheTimestampsAndTheEmittedChunks()
    {
        // Queued at 0, first token at 0.25 s (prefill), then 4 decoding steps emitting 9 tokens until 1.25 s.
        var t = GenerationTimings.From(submitted: 0, firstToken: Second / 4, lastToken: Second * 5 / 4, firstChunkTokens: 1, tokens: 10, chunks: 5, draftDepth: 3);
        Assert.Equal(250, t.TimeToFirstTokenMs, 6);
        Assert.Equal(9, t.TokensPerSecond, 6);
        Assert.Equal(4, t.DecodeSteps);
        Assert.Equal(2.25, t.AcceptanceLength, 6);
        Assert.Equal(3, t.DraftDepth);
    }

    [Fact]
    public void OneChunkHasNoDecodingSpeedAndNothingIsAllZero()
    {
        var one = GenerationTimings.From(0, Second / 10, Second / 10, 1, 1, 1, 2);
        Assert.Equal(100, one.TimeToFirstTokenMs, 6);
        Assert.Equal(0, one.TokensPerSecond);
        Assert.Equal(0, one.DecodeSteps);
        Assert.Equal(0, one.AcceptanceLength);
        Assert.Equal(new GenerationTimings(0, 0, 0, 0, 2), GenerationTimings.From(0, 0, 0, 0, 0, 0, 2));
    }

    [Fact]
    public void AcceptanceLengthCountsOnlyTokensTheRequestReceivedNearMaxTokens()
    {
        // max_tokens 6 with K = 3: the prefill emits 1 token, a step accepting all 3 drafts emits 4, and the last
        // step, which also accepted 3 drafts (4 tokens verified), may emit only 1 before max_tokens. Counting
        // verified tokens would claim (4 + 4) / 2 = 4; the request got (4 + 1) / 2 = 2.5 tokens per step.
        var ticket = new GenerationTicket(promptTokens: 5, draftDepth: 3);
        ticket.Publish([10]);
        ticket.Publish([11, 12, 13, 14]);
        ticket.Publish([15]);
        ticket.Complete(FinishReason.Length);
        var t = ticket.Timings;
        Assert.Equal(6, ticket.GeneratedTokens);
        Assert.Equal(2, t.DecodeSteps);
        Assert.Equal(2.5, t.AcceptanceLength, 6);
        Assert.Equal(3, t.DraftDepth);
        Assert.True(t.TimeToFirstTokenMs >= 0);
    }

    [Fact]
    public void APrefillThatEmitsNothingIsNotAStep()
    {
        var ticket = new GenerationTicket(promptTokens: 3);
        ticket.Publish([]);     // a prefill chunk of a long prompt emits no token
        ticket.Publish([1]);
        ticket.Publish([2]);
        ticket.Complete(FinishReason.Stop);
        Assert.Equal(1, ticket.Timings.DecodeSteps);
        Assert.Equal(1, ticket.Timings.AcceptanceLength);
        Assert.Equal(0, ticket.Timings.DraftDepth);
    }
}

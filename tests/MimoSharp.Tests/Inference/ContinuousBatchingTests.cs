using MimoSharp.Inference;
using MimoSharp.Model;
using MimoSharp.Tests.Support;

namespace MimoSharp.Tests.Inference;

public sealed class ContinuousBatchingTests
{
    [Theory]
    [InlineData("tiny_fp8")]
    [InlineData("tiny_fp8_release")]
    [InlineData("tiny_bf16")]
    public void SequencesJoiningAndLeavingABatchGiveTheirSoloOutputs(string fixture)
    {
        using var model = MimoModel.Load(Fixtures.Dir(fixture));
        var requests = new (int[] Prompt, GenerationOptions Options, int JoinAtStep)[]
        {
            ([1, 2, 3, 4, 5], new GenerationOptions { MaxTokens = 20 }, 0),
            ([9, 8, 7], new GenerationOptions { MaxTokens = 12, Sampling = new SamplingOptions { Temperature = 0.8f, TopP = 0.9f, Seed = 7 } }, 0),
            ([4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4], new GenerationOptions { MaxTokens = 15, Speculative = 2 }, 3),
            ([42], new GenerationOptions { MaxTokens = 9, Speculative = 1, Sampling = new SamplingOptions { Temperature = 1f, TopK = 20, Seed = 3 } }, 5),
        };
        var solo = requests.Select(r => new Generator(model, r.Options).Generate(r.Prompt).ToArray()).ToArray();

        var decoder = new BatchDecoder(model);
        var running = new List<DecodeSequence>();
        var all = new DecodeSequence?[requests.Length];
        for (int step = 0; step < 200 && (running.Count > 0 || all.Any(s => s is null)); step++)
        {
            for (int i = 0; i < requests.Length; i++)
                if (all[i] is null && requests[i].JoinAtStep <= step)
                    running.Add(all[i] = new DecodeSequence(model, requests[i].Prompt, requests[i].Options));
            decoder.Step(running);
            running.RemoveAll(s => s.IsFinished);
        }
        for (int i = 0; i < requests.Length; i++) Assert.Equal(solo[i], all[i]!.Generated);
    }
}

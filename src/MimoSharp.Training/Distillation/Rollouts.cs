using MimoSharp.Inference;
using MimoSharp.Model;

namespace MimoSharp.Training.Distillation;

/// <summary>Samples responses with the inference engine: every prompt is one sequence of one continuous batch.</summary>
public static class Rollouts
{
    /// <param name="temperature">1 samples the policy itself; 0 decodes greedily.</param>
    /// <param name="speculative">MTP draft depth (0 = plain decoding); sampled drafts are verified so the distribution is the model's.</param>
    public static int[][] Sample(MimoModel model, IReadOnlyList<EncodedPrompt> prompts, float temperature, ulong seed, int speculative = 0)
    {
        var sequences = new DecodeSequence[prompts.Count];
        for (int i = 0; i < prompts.Count; i++)
        {
            var p = prompts[i];
            var sampling = temperature == 0 ? SamplingOptions.Greedy : new SamplingOptions { Temperature = temperature, Seed = SeedOf(seed, i) };
            var options = new GenerationOptions
            {
                MaxTokens = p.MaxTokens,
                Sampling = sampling,
                StopTokens = p.StopTokens,
                Speculative = Math.Min(speculative, model.MtpLayers.Count),
            };
            sequences[i] = new DecodeSequence(model, p.Ids, options);
        }
        var decoder = new BatchDecoder(model);
        while (sequences.Any(s => !s.IsFinished)) decoder.Step(sequences);
        return sequences.Select(s => s.Generated.ToArray()).ToArray();
    }

    /// <summary>A distinct, reproducible seed per (run seed, sequence) — SplitMix64 of their combination.</summary>
    public static ulong SeedOf(ulong seed, long index)
    {
        ulong z = seed + 0x9E3779B97F4A7C15UL * (ulong)(index + 1);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }
}

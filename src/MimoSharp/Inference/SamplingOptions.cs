namespace MimoSharp.Inference;

/// <summary>
/// How the next token is chosen. Temperature 0 is greedy (argmax, lowest id on ties). Filters apply in
/// the Hugging Face order: repetition penalty, temperature, top-k, top-p, min-p.
/// </summary>
public sealed record SamplingOptions
{
    public float Temperature { get; init; }
    public int TopK { get; init; }
    public float TopP { get; init; } = 1f;
    public float MinP { get; init; }
    public float RepetitionPenalty { get; init; } = 1f;
    public ulong? Seed { get; init; }

    public static SamplingOptions Greedy { get; } = new();

    public bool IsGreedy => Temperature == 0f;

    public void Validate()
    {
        if (!(Temperature >= 0) || float.IsInfinity(Temperature))
            throw new ArgumentOutOfRangeException(nameof(Temperature), $"temperature must be ≥ 0, got {Temperature}");
        if (TopK < 0) throw new ArgumentOutOfRangeException(nameof(TopK), $"top-k must be ≥ 0 (0 = off), got {TopK}");
        if (!(TopP > 0 && TopP <= 1)) throw new ArgumentOutOfRangeException(nameof(TopP), $"top-p must be in (0, 1], got {TopP}");
        if (!(MinP >= 0 && MinP <= 1)) throw new ArgumentOutOfRangeException(nameof(MinP), $"min-p must be in [0, 1], got {MinP}");
        if (!(RepetitionPenalty > 0)) throw new ArgumentOutOfRangeException(nameof(RepetitionPenalty), $"repetition penalty must be > 0, got {RepetitionPenalty}");
    }
}

namespace MimoSharp.Inference;

/// <summary>
/// Proposes draft tokens for speculative decoding. The engine's source is <see cref="MtpDrafter"/>; the
/// verification rule keeps the target distribution whatever the drafts are, so any source is safe.
/// </summary>
public interface IDraftSource
{
    /// <summary>How many tokens ahead this source can draft per step.</summary>
    int Depths { get; }

    /// <summary>Records the main model's pre-norm hidden states of positions start, start+1, ….</summary>
    void ObserveHidden(int start, ReadOnlySpan<float> hidden, int count);

    /// <summary>Forgets hidden states from position <paramref name="count"/> on.</summary>
    void TruncateHidden(int count);

    /// <summary>Logits for the token at position n+depth+1, given tokens u_0..u_{n+depth} (n = main cache length).</summary>
    void DraftLogits(int depth, int n, IReadOnlyList<int> tokens, Span<float> logits);
}

using MimoSharp.Model;

namespace MimoSharp.Inference;

/// <summary>Everything the model computes for a known token sequence (what <c>mimo logits</c> writes).</summary>
public sealed class TeacherForcedOutputs
{
    public required int Length { get; init; }
    public required float[] Logits { get; init; }          // [T, V]
    public required float[] HiddenPrenorm { get; init; }   // [T, H]
    public required float[][] MtpLogits { get; init; }     // depth k: [T-k-1, V]
    public required float[][] MtpHidden { get; init; }     // depth k: [T-k-1, H]
}

/// <summary>
/// Runs the main model and every MTP depth teacher-forced over a sequence (spec §7): depth k at
/// position i fuses h_i with token t_{i+k+1} and predicts t_{i+k+2}.
/// </summary>
public static class TeacherForcing
{
    /// <param name="chunk">Tokens per forward pass: the whole sequence at once by default, 1 for token-by-token decoding.</param>
    public static TeacherForcedOutputs Run(MimoModel model, ReadOnlySpan<int> tokens, int chunk = int.MaxValue)
    {
        int t = tokens.Length, v = model.VocabSize, h = model.HiddenSize;
        if (t == 0) throw new ArgumentException("the token sequence is empty", nameof(tokens));
        if (chunk < 1) throw new ArgumentOutOfRangeException(nameof(chunk));
        var caches = model.CreateCaches();
        var hidden = new float[t * h];
        var logits = new float[t * v];
        for (int start = 0; start < t; start += chunk)
        {
            int len = Math.Min(chunk, t - start);
            model.Forward(tokens.Slice(start, len), BatchLayout.Single(start, len), [caches],
                hidden.AsSpan(start * h, len * h));
        }
        model.Logits(hidden, t, logits);

        int depths = model.MtpLayers.Count;
        var mtpLogits = new float[depths][];
        var mtpHidden = new float[depths][];
        for (int k = 0; k < depths; k++)
        {
            int rows = Math.Max(0, t - k - 1);
            mtpHidden[k] = new float[rows * h];
            mtpLogits[k] = new float[rows * v];
            if (rows == 0) continue;
            var fusedTokens = tokens.Slice(k + 1, rows);
            for (int start = 0; start < rows; start += chunk)
            {
                int len = Math.Min(chunk, rows - start);
                model.MtpForward(k, fusedTokens.Slice(start, len), hidden.AsSpan(start * h, len * h),
                    BatchLayout.Single(start, len), [caches], mtpHidden[k].AsSpan(start * h, len * h));
            }
            model.MtpLogits(k, mtpHidden[k], rows, mtpLogits[k]);
        }
        return new TeacherForcedOutputs
        {
            Length = t,
            Logits = logits,
            HiddenPrenorm = hidden,
            MtpLogits = mtpLogits,
            MtpHidden = mtpHidden,
        };
    }
}

using MimoSharp.Training.Model;
using static TorchSharp.torch;

namespace MimoSharp.Training.Pretraining;

/// <summary>Held-out figures: mean next-token loss, its perplexity, and per MTP depth its loss and top-1 accuracy.</summary>
public sealed record EvalResult(long Tokens, double Loss, double[] MtpLoss, double[] MtpAccuracy)
{
    public double Perplexity => Math.Exp(Loss);
}

/// <summary>Teacher-forced evaluation of a network over token windows, no gradients.</summary>
public static class Evaluator
{
    /// <summary>Cuts <paramref name="tokens"/> into windows of at most <paramref name="context"/> tokens and evaluates them all.</summary>
    public static EvalResult Evaluate(MimoNetwork network, ReadOnlySpan<int> tokens, int context, int batch = 8)
    {
        if (tokens.Length < 2) throw new ArgumentException($"evaluation needs at least 2 tokens, got {tokens.Length}");
        var windows = new List<int[]>();
        for (int start = 0; start < tokens.Length - 1; start += context)
            windows.Add(tokens.Slice(start, Math.Min(context, tokens.Length - start)).ToArray());
        if (windows.Count > 1 && windows[^1].Length < 2) windows.RemoveAt(windows.Count - 1);
        return Evaluate(network, windows, batch);
    }

    public static EvalResult Evaluate(MimoNetwork network, IReadOnlyList<int[]> windows, int batch = 8)
    {
        int depths = network.MtpLayers.Count;
        double lossSum = 0;
        long count = 0;
        var mtpLossSum = new double[depths];
        var mtpCorrect = new long[depths];
        var mtpCount = new long[depths];
        using var _ = no_grad();
        for (int i = 0; i < windows.Count;)
        {
            int length = windows[i].Length;
            int n = 1;
            while (n < batch && i + n < windows.Count && windows[i + n].Length == length) n++;
            var ids = new long[n * length];
            for (int b = 0; b < n; b++)
                for (int j = 0; j < length; j++) ids[b * length + j] = windows[i + b][j];
            i += n;
            if (length < 2) continue;

            using var scope = NewDisposeScope();
            var tokens = tensor(ids, [n, length]);
            var hidden = network.Hidden(tokens);
            var logits = network.Logits(hidden.narrow(1, 0, length - 1));
            lossSum += SumCrossEntropy(logits, tokens.narrow(1, 1, length - 1));
            count += (long)n * (length - 1);
            for (int k = 0; k < depths; k++)
            {
                int rows = length - k - 2;
                if (rows <= 0) continue;
                var mtpLogits = network.MtpLogits(k, tokens, hidden, rows);
                var targets = tokens.narrow(1, k + 2, rows);
                mtpLossSum[k] += SumCrossEntropy(mtpLogits, targets);
                mtpCorrect[k] += mtpLogits.argmax(-1).eq(targets).sum().item<long>();
                mtpCount[k] += (long)n * rows;
            }
        }
        if (count == 0) throw new ArgumentException("no window has 2 or more tokens to evaluate");
        return new EvalResult(
            count,
            lossSum / count,
            Enumerable.Range(0, depths).Select(k => mtpCount[k] == 0 ? double.NaN : mtpLossSum[k] / mtpCount[k]).ToArray(),
            Enumerable.Range(0, depths).Select(k => mtpCount[k] == 0 ? double.NaN : (double)mtpCorrect[k] / mtpCount[k]).ToArray());
    }

    private static double SumCrossEntropy(Tensor logits, Tensor targets)
    {
        using var flat = logits.reshape(-1, logits.shape[^1]);
        using var flatTargets = targets.reshape(-1);
        using var loss = nn.functional.cross_entropy(flat, flatTargets, reduction: nn.Reduction.Sum);
        return loss.to(ScalarType.Float64).item<double>();
    }
}

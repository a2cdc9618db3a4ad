using MimoSharp.Training.Model;
using static TorchSharp.torch;

namespace MimoSharp.Training.Pretraining;

/// <summary>The losses of one batch: the total that is back-propagated, and its parts.</summary>
public sealed record BatchLoss(Tensor Total, Tensor Main, Tensor[] Mtp) : IDisposable
{
    public void Dispose()
    {
        Total.Dispose();
        Main.Dispose();
        foreach (var t in Mtp) t.Dispose();
    }
}

/// <summary>
/// Next-token cross-entropy plus the MTP losses (spec §7): depth k at position i predicts t_{i+k+2}.
/// loss = CE_main + (mtpWeight / K) · Σ_k CE_k — the MTP weight is shared over the K depths.
/// </summary>
public static class MtpObjective
{
    public static BatchLoss Compute(MimoNetwork network, Tensor tokens, double mtpWeight)
    {
        using var scope = NewDisposeScope();
        long t = tokens.shape[1];
        var hidden = network.Hidden(tokens);
        var main = CrossEntropy(network.Logits(hidden.narrow(1, 0, t - 1)), tokens.narrow(1, 1, t - 1));
        int depths = network.MtpLayers.Count;
        var mtp = new Tensor[depths];
        var total = main;
        for (int k = 0; k < depths; k++)
        {
            int rows = (int)(t - k - 2);   // rows whose target t_{i+k+2} is inside the window
            mtp[k] = CrossEntropy(network.MtpLogits(k, tokens, hidden, rows), tokens.narrow(1, k + 2, rows));
            total = total + mtp[k] * (mtpWeight / depths);
        }
        total.MoveToOuterDisposeScope();
        main.MoveToOuterDisposeScope();
        foreach (var m in mtp) m.MoveToOuterDisposeScope();
        return new BatchLoss(total, main, mtp);
    }

    /// <summary>Mean cross-entropy of logits [B, T, V] against targets [B, T].</summary>
    public static Tensor CrossEntropy(Tensor logits, Tensor targets)
    {
        using var flat = logits.reshape(-1, logits.shape[^1]);
        using var flatTargets = targets.reshape(-1);
        return nn.functional.cross_entropy(flat, flatTargets);
    }
}

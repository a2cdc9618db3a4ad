using MimoSharp.Model;
using MimoSharp.Training.Model;
using static TorchSharp.torch;

namespace MimoSharp.Training.Distillation;

/// <summary>The loss to back-propagate and what it was made of (means over the response tokens).</summary>
public sealed record PolicyLoss(Tensor Total, double Policy, double MeanRatio, double TruncatedFraction, double Mtp) : IDisposable
{
    public void Dispose() => Total.Dispose();
}

/// <summary>
/// MOPD's objective (MiMo-V2-Flash post-training): the student samples y; the domain teacher scores every sampled
/// token; the advantage Â_t = sg[log π_teacher(y_t) − log π_rollout(y_t)] (+ an optional outcome reward) enters a
/// token-level policy gradient L = −Σ_t sg[min(π_θ/π_rollout, cap)] · Â_t · log π_θ(y_t) / Σ_t 1.
/// The off-policy baseline (supervised fine-tuning on teacher samples) is L = −mean log π_θ(y_t).
/// </summary>
public static class MopdObjective
{
    /// <summary>Â_t = log π_teacher(y_t) − log π_rollout(y_t) + outcomeWeight · outcome, for every sampled token.</summary>
    public static float[] Advantages(ReadOnlySpan<float> teacherLogProbs, ReadOnlySpan<float> rolloutLogProbs, double outcome = 0, double outcomeWeight = 0)
    {
        if (teacherLogProbs.Length != rolloutLogProbs.Length)
            throw new ArgumentException($"the teacher scored {teacherLogProbs.Length} tokens but the rollout has {rolloutLogProbs.Length}");
        var advantages = new float[teacherLogProbs.Length];
        for (int t = 0; t < advantages.Length; t++)
            advantages[t] = (float)(teacherLogProbs[t] - rolloutLogProbs[t] + outcomeWeight * outcome);
        return advantages;
    }

    /// <param name="isCap">Truncation of the importance ratio π_θ/π_rollout (e.g. 2).</param>
    /// <param name="mtpWeight">Weight of the MTP heads' next-token losses on the sampled sequences (their hidden input detached,
    /// so they follow the policy without pulling on it); 0 leaves the MTP layers untouched.</param>
    /// <param name="supervised">The off-policy baseline: plain cross-entropy on the sampled tokens, no advantage or ratio.</param>
    /// <param name="ownRouting">When given, receives the experts the forward used (with the batch's routing not replayed:
    /// the trainer's own choice, to compare with the rollout engine's).</param>
    public static PolicyLoss Compute(MimoNetwork network, PolicyBatch batch, double isCap, double mtpWeight = 0, bool supervised = false,
        RecordedRouting? ownRouting = null)
    {
        if (isCap <= 0) throw new ArgumentOutOfRangeException(nameof(isCap), "the importance-ratio cap must be positive");
        using var scope = NewDisposeScope();
        long t = batch.Tokens.shape[1];
        var hidden = network.Hidden(batch.Tokens, replay: batch.Routing, record: ownRouting);
        var targets = batch.Tokens.narrow(1, 1, t - 1);
        var logProbs = nn.functional.log_softmax(network.Logits(hidden.narrow(1, 0, t - 1)), -1)
            .gather(2, targets.unsqueeze(2)).squeeze(2);                                        // [B, T-1]
        var count = batch.Mask.sum().clamp_min(1);
        Tensor policy, ratio, truncated;
        if (supervised)
        {
            policy = -(logProbs * batch.Mask).sum() / count;
            ratio = ones_like(count);
            truncated = zeros_like(count);
        }
        else
        {
            var rawRatio = (logProbs.detach() - batch.RolloutLogProbs).exp();
            var weight = rawRatio.clamp_max(isCap);
            policy = -(weight * batch.Advantages * logProbs * batch.Mask).sum() / count;
            ratio = (rawRatio * batch.Mask).sum() / count;
            truncated = (rawRatio.gt(isCap).to(ScalarType.Float32) * batch.Mask).sum() / count;
        }

        var total = policy;
        double mtpValue = 0;
        if (mtpWeight > 0 && network.MtpLayers.Count > 0)
        {
            var detached = hidden.detach();
            Tensor mtp = zeros_like(count);
            for (int k = 0; k < network.MtpLayers.Count; k++)
            {
                int rows = (int)(t - k - 2);                       // depth k at row i predicts token i + k + 2
                if (rows <= 0) continue;
                var logits = network.MtpLogits(k, batch.Tokens, detached, rows);
                var mtpTargets = batch.Tokens.narrow(1, k + 2, rows);
                var mask = batch.Mask.narrow(1, k + 1, rows);        // token i+k+2 is predicted by mask column i+k+1
                var nll = -nn.functional.log_softmax(logits, -1).gather(2, mtpTargets.unsqueeze(2)).squeeze(2);
                mtp = mtp + (nll * mask).sum() / mask.sum().clamp_min(1);
            }
            mtp = mtp / network.MtpLayers.Count;
            mtpValue = mtp.item<float>();
            total = total + mtp * mtpWeight;
        }
        var result = new PolicyLoss(total.MoveToOuterDisposeScope(), policy.item<float>(), ratio.item<float>(), truncated.item<float>(), mtpValue);
        return result;
    }
}

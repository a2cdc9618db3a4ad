using MimoSharp.Config;
using MimoSharp.Model;
using static TorchSharp.torch;

namespace MimoSharp.Training.Distillation;

/// <summary>
/// A padded batch of sampled sequences (prompt + response) ready for <see cref="MopdObjective"/>. Column t of the
/// [B, T-1] tensors belongs to the prediction of token t+1; <see cref="Mask"/> is 1 exactly where token t+1 is a
/// response token. <see cref="Routing"/>, when set, is the rollout engine's routing of every row, replayed by the
/// training forward (R3).
/// </summary>
public sealed record PolicyBatch(Tensor Tokens, Tensor Mask, Tensor RolloutLogProbs, Tensor Advantages, RecordedRouting? Routing) : IDisposable
{
    /// <summary>[B·T]: false on padding rows.</summary>
    public bool[]? RealRows { get; init; }

    /// <summary>Pads the <paramref name="members"/> of a rollout batch into one policy batch.</summary>
    internal static PolicyBatch Pack(MimoConfig config, RolloutBatch rollouts, IReadOnlyList<int> members)
    {
        int b = members.Count;
        int t = members.Max(i => rollouts.Prompts[i].Prompt.Ids.Length + rollouts.Responses[i].Length);
        var tokens = new long[b * t];
        var realRows = new bool[b * t];
        var mask = new float[b * (t - 1)];
        var logProbs = new float[b * (t - 1)];
        var adv = new float[b * (t - 1)];
        int k = config.NumExpertsPerTok;
        var routing = rollouts.Scores[members[0]].Routing is not null ? new RecordedRouting(config, b * t) : null;
        for (int r = 0; r < b; r++)
        {
            int i = members[r];
            int[] prompt = rollouts.Prompts[i].Prompt.Ids, response = rollouts.Responses[i];
            int p = prompt.Length, c = response.Length;
            realRows.AsSpan(r * t, p + c).Fill(true);
            for (int j = 0; j < p; j++) tokens[r * t + j] = prompt[j];
            for (int j = 0; j < c; j++)
            {
                tokens[r * t + p + j] = response[j];
                int col = r * (t - 1) + p + j - 1;          // column p+j-1 predicts token p+j
                mask[col] = 1;
                logProbs[col] = rollouts.Scores[i].LogProbs[j];
                adv[col] = rollouts.Advantages[i][j];
            }
            if (routing is null) continue;
            var recorded = rollouts.Scores[i].Routing!;
            for (int layer = 0; layer < routing.MoeLayers; layer++)
            {
                var rows = routing[layer];
                recorded[layer].AsSpan(0, (p + c) * k).CopyTo(rows.AsSpan(r * t * k));
                for (int x = (p + c) * k; x < t * k; x++) rows[r * t * k + x] = x % k;   // padding rows: any distinct experts
            }
        }
        return new PolicyBatch(tensor(tokens, [b, t]), tensor(mask, [b, t - 1]), tensor(logProbs, [b, t - 1]), tensor(adv, [b, t - 1]), routing)
        {
            RealRows = realRows,
        };
    }

    public void Dispose()
    {
        Tokens.Dispose();
        Mask.Dispose();
        RolloutLogProbs.Dispose();
        Advantages.Dispose();
    }
}

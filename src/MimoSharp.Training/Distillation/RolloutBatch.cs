using MimoSharp.Inference;
using MimoSharp.Model;
using MimoSharp.Text;

namespace MimoSharp.Training.Distillation;

/// <summary>
/// One MOPD rollout batch: prompts from every domain → sampled responses → π_rollout (and the experts the engine
/// chose) → each prompt's domain teacher scoring the same tokens → per-token advantages Â_t.
/// </summary>
internal sealed class RolloutBatch
{
    /// <summary>The prompts, an even share per domain.</summary>
    public required IReadOnlyList<(DistillDomain Domain, EncodedPrompt Prompt)> Prompts { get; init; }

    /// <summary>The sampled response of each prompt.</summary>
    public required int[][] Responses { get; init; }

    /// <summary>log π_rollout of each response token under the student, with the engine's routing when recorded.</summary>
    public required ScoredSequence[] Scores { get; init; }

    /// <summary>log π_teacher of each response token under its domain's teacher.</summary>
    public required float[][] TeacherLogProbs { get; init; }

    public required float[][] Advantages { get; init; }

    /// <summary>1 or 0 for a response to a prompt with an answer (right or wrong), null for the others.</summary>
    public required double?[] Outcomes { get; init; }

    public int Count => Prompts.Count;

    /// <summary>
    /// The next <paramref name="count"/> prompts, dealt round-robin over the domains; each domain walks its own seeded
    /// order, one fresh permutation per pass, from its cursor (advanced here, saved with the run).
    /// </summary>
    public static List<(DistillDomain Domain, EncodedPrompt Prompt)> NextPrompts(
        IReadOnlyList<DistillDomain> domains, IDictionary<string, long> cursors, int count, ulong seed)
    {
        var prompts = new List<(DistillDomain, EncodedPrompt)>(count);
        for (int i = 0; i < count; i++)
        {
            int d = i % domains.Count;
            var domain = domains[d];
            long cursor = cursors.TryGetValue(domain.Name, out long c) ? c : 0;
            cursors[domain.Name] = cursor + 1;
            int n = domain.Train.Count;
            var random = new Random((int)(Rollouts.SeedOf(Rollouts.SeedOf(seed, d), cursor / n) & int.MaxValue));
            var permutation = Enumerable.Range(0, n).ToArray();
            random.Shuffle(permutation);
            prompts.Add((domain, domain.Train[permutation[cursor % n]]));
        }
        return prompts;
    }

    /// <summary>The off-policy baseline's responses: each domain's teacher samples its prompts.</summary>
    public static int[][] SampleTeachers(List<DistillDomain> domains, IReadOnlyList<(DistillDomain Domain, EncodedPrompt Prompt)> prompts,
        float temperature, ulong stepSeed, int speculative)
    {
        var responses = new int[prompts.Count][];
        foreach (var group in prompts.Select((p, i) => (p, i)).GroupBy(x => x.p.Domain))
        {
            var list = group.ToList();
            var sampled = Rollouts.Sample(group.Key.Teacher, list.Select(x => x.p.Prompt).ToList(), temperature,
                Rollouts.SeedOf(stepSeed, domains.IndexOf(group.Key)), speculative);
            for (int j = 0; j < list.Count; j++) responses[list[j].i] = sampled[j];
        }
        return responses;
    }

    /// <summary>
    /// Scores the responses under the student (π_rollout, and with <paramref name="recordRouting"/> the experts it
    /// chose) and under each domain's teacher, and forms the advantages.
    /// </summary>
    public static RolloutBatch Score(MimoModel student, IReadOnlyList<(DistillDomain Domain, EncodedPrompt Prompt)> prompts, int[][] responses,
        Tokenizer tokenizer, bool recordRouting, double outcomeWeight)
    {
        var requests = prompts.Select((b, i) => new ScoringRequest(b.Prompt.Ids, responses[i])).ToList();
        var scores = SequenceScorer.Score(student, requests, recordRouting);
        var teacherLogProbs = new float[prompts.Count][];
        foreach (var group in prompts.Select((p, i) => (p, i)).GroupBy(x => x.p.Domain))
        {
            var list = group.ToList();
            var scored = SequenceScorer.Score(group.Key.Teacher, list.Select(x => requests[x.i]).ToList());
            for (int j = 0; j < list.Count; j++) teacherLogProbs[list[j].i] = scored[j].LogProbs;
        }
        var advantages = new float[prompts.Count][];
        var outcomes = new double?[prompts.Count];
        for (int i = 0; i < prompts.Count; i++)
        {
            var source = prompts[i].Prompt.Source;
            if (source.Answer is not null) outcomes[i] = source.IsCorrect(tokenizer.Decode(responses[i])) ? 1 : 0;
            advantages[i] = MopdObjective.Advantages(teacherLogProbs[i], scores[i].LogProbs, outcomes[i] ?? 0, outcomeWeight);
        }
        return new RolloutBatch
        {
            Prompts = prompts,
            Responses = responses,
            Scores = scores,
            TeacherLogProbs = teacherLogProbs,
            Advantages = advantages,
            Outcomes = outcomes,
        };
    }

    /// <summary>Policy-update mini-batches: member i goes to mini-batch i mod <paramref name="count"/>, so each one mixes the domains.</summary>
    public IEnumerable<List<int>> MiniBatches(int count)
    {
        for (int m = 0; m < count; m++)
        {
            var members = Enumerable.Range(0, Count).Where(i => i % count == m).ToList();
            if (members.Count > 0) yield return members;
        }
    }

    /// <summary>Per domain: sampled reverse KL to its teacher, mean advantage, accuracy on checkable prompts, tokens.</summary>
    public SortedDictionary<string, DomainStepPoint> DomainFigures()
    {
        var perDomain = new SortedDictionary<string, DomainStepPoint>(StringComparer.Ordinal);
        foreach (var group in Prompts.Select((p, i) => (p, i)).GroupBy(x => x.p.Domain.Name))
        {
            double kl = 0, adv = 0;
            long tokens = 0;
            foreach (var (_, i) in group)
                for (int t = 0; t < Responses[i].Length; t++, tokens++)
                {
                    kl += Scores[i].LogProbs[t] - TeacherLogProbs[i][t];
                    adv += Advantages[i][t];
                }
            var checkable = group.Where(x => Outcomes[x.i] is not null).ToList();
            perDomain[group.Key] = new DomainStepPoint(tokens > 0 ? kl / tokens : 0, tokens > 0 ? adv / tokens : 0,
                checkable.Count > 0 ? checkable.Average(x => Outcomes[x.i]!.Value) : null, tokens);
        }
        return perDomain;
    }
}

using MimoSharp.Inference;
using MimoSharp.Model;
using MimoSharp.Text;

namespace MimoSharp.Training.Distillation;

/// <summary>
/// A model's held-out figures on a domain: the reverse KL to the domain's teacher (sampled-token estimate
/// E_y~model[log π_model(y_t) − log π_teacher(y_t)] per token, on the model's own samples at temperature 1),
/// greedy exact-match accuracy on prompts with an answer, and the per-token NLL / perplexity of reference
/// continuations on prompts with a reference.
/// </summary>
public static class DistillEvaluator
{
    public static DomainEval Evaluate(MimoModel model, DistillDomain domain, Tokenizer tokenizer, int maxPrompts, ulong seed)
    {
        var prompts = domain.Heldout.Take(maxPrompts).ToList();
        if (prompts.Count == 0) throw new InvalidOperationException($"domain {domain.Name} has no held-out prompts to evaluate on");

        var samples = Rollouts.Sample(model, prompts, 1f, seed);
        var requests = prompts.Select((p, i) => new ScoringRequest(p.Ids, samples[i])).ToList();
        var own = SequenceScorer.Score(model, requests);
        var teacher = SequenceScorer.Score(domain.Teacher, requests);
        double kl = 0;
        long tokens = 0;
        for (int i = 0; i < prompts.Count; i++)
            for (int t = 0; t < samples[i].Length; t++, tokens++) kl += own[i].LogProbs[t] - teacher[i].LogProbs[t];

        double? accuracy = null;
        var checkable = prompts.Where(p => p.Source.Answer is not null).ToList();
        if (checkable.Count > 0)
        {
            var greedy = Rollouts.Sample(model, checkable, 0f, seed);
            accuracy = checkable.Select((p, i) => p.Source.IsCorrect(tokenizer.Decode(greedy[i])) ? 1.0 : 0.0).Average();
        }

        double? nll = null;
        var referenced = prompts.Where(p => !string.IsNullOrEmpty(p.Source.Reference)).ToList();
        if (referenced.Count > 0)
        {
            var refRequests = referenced.Select(p => new ScoringRequest(p.Ids, tokenizer.Encode(p.Source.Reference!, parseSpecial: false))).ToList();
            var scored = SequenceScorer.Score(model, refRequests);
            nll = -scored.SelectMany(s => s.LogProbs).Average(l => (double)l);
        }
        return new DomainEval(domain.Name, prompts.Count, tokens > 0 ? kl / tokens : 0, accuracy, nll, nll is double n ? Math.Exp(n) : null,
            (double)tokens / prompts.Count);
    }
}

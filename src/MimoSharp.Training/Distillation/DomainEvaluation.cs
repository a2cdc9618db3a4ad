using MimoSharp.Model;
using MimoSharp.Text;
using MimoSharp.Training.Checkpoints;

namespace MimoSharp.Training.Distillation;

/// <summary>Evaluates one model folder on held-out domain prompts against the domain teachers (<c>mimo distill eval</c>).</summary>
public static class DomainEvaluation
{
    public static IReadOnlyList<DomainEval> Run(string modelDirectory, IReadOnlyDictionary<string, string> teachers,
        IReadOnlyDictionary<string, string> evalPrompts, int promptsPerDomain, int maxTokens, ulong seed)
    {
        foreach (var name in evalPrompts.Keys)
            if (!teachers.ContainsKey(name))
                throw new ArgumentException($"--eval {name}=…: unknown domain \"{name}\" (no --teacher {name}=DIR; teachers: {string.Join(", ", teachers.Keys)})");
        if (promptsPerDomain < 1) throw new ArgumentException($"--eval-prompts must be positive, got {promptsPerDomain}");
        string tokenizerPath = Path.Combine(modelDirectory, NetworkCheckpoint.TokenizerFileName);
        if (!File.Exists(tokenizerPath)) throw new FileNotFoundException($"{modelDirectory} has no tokenizer.json (prompts are text)");
        var tokenizer = Tokenizer.FromFile(tokenizerPath);
        using var model = MimoModel.Load(modelDirectory);
        var encoder = new PromptEncoder(tokenizer, model.Config.MaxPositionEmbeddings);
        var results = new List<DomainEval>();
        foreach (var (name, file) in evalPrompts.OrderBy(e => e.Key, StringComparer.Ordinal))
        {
            var prompts = encoder.Encode(file, maxTokens);
            using var domain = new DistillDomain(name, teachers[name], MimoModel.Load(teachers[name]), [], prompts);
            if (domain.Teacher.VocabSize != model.VocabSize)
                throw new InvalidOperationException($"teacher {name} ({teachers[name]}) has vocab_size {domain.Teacher.VocabSize} but {modelDirectory} has {model.VocabSize}: they need one vocabulary");
            results.Add(DistillEvaluator.Evaluate(model, domain, tokenizer, promptsPerDomain, seed));
        }
        return results;
    }
}

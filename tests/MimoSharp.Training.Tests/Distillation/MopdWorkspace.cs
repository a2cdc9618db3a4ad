using MimoSharp.Training.Distillation;
using MimoSharp.Training.Tests.Support;

namespace MimoSharp.Training.Tests.Distillation;

/// <summary>
/// A tiny MOPD setting shared by the distillation tests: a student trained briefly on the TinyRun corpus, a
/// teacher trained longer (so the two disagree), and "rhymes" prompt files (training and held-out).
/// </summary>
public sealed class MopdWorkspace : IDisposable
{
    public TinyRun Run { get; } = new();
    public string Student { get; }
    public string Teacher { get; }
    public string TrainPrompts { get; }
    public string HeldoutPrompts { get; }

    public MopdWorkspace()
    {
        Student = Run.Out("student");
        Teacher = Run.Out("teacher");
        new MimoSharp.Training.Pretraining.Trainer(Run.Options(Student, steps: 8) with { EvalEvery = 0 }, TextWriter.Null).Run();
        new MimoSharp.Training.Pretraining.Trainer(Run.Options(Teacher, steps: 60) with { EvalEvery = 0, Seed = 2 }, TextWriter.Null).Run();
        string[] animals = ["cat", "dog", "fox", "owl", "bee", "cow"];
        TrainPrompts = Run.Out("rhymes.train.jsonl");
        HeldoutPrompts = Run.Out("rhymes.heldout.jsonl");
        DistillPrompt.Save(TrainPrompts, animals.Select(a => new DistillPrompt { Prompt = $"the {a} sat", MaxTokens = 6 }));
        DistillPrompt.Save(HeldoutPrompts, animals.SelectMany(a => new[] { $"the {a}", $"the {a} sat" })
            .Select(p => new DistillPrompt { Prompt = p, MaxTokens = 6, Reference = " sat on the mat." }));
    }

    public DistillOptions Options(string output, int steps = 6) => new()
    {
        Student = Student,
        Teachers = new Dictionary<string, string> { ["rhymes"] = Teacher },
        Prompts = new Dictionary<string, string> { ["rhymes"] = TrainPrompts },
        EvalPrompts = new Dictionary<string, string> { ["rhymes"] = HeldoutPrompts },
        OutputDirectory = output,
        Steps = steps,
        PromptsPerStep = 8,
        MiniBatches = 2,
        LearningRate = 3e-3,
        WarmupSteps = 1,
        EvalEvery = steps,
        EvalPromptsPerDomain = 12,
        SaveEvery = 1000,
        Threads = 1,
    };

    public void Dispose() => Run.Dispose();
}

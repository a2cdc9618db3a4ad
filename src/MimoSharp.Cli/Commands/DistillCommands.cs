using System.CommandLine;
using System.Globalization;
using MimoSharp.Training.Distillation;

namespace MimoSharp.Cli.Commands;

/// <summary><c>mimo distill</c> (MOPD), <c>mimo distill data</c> and <c>mimo distill eval</c>.</summary>
public static class DistillCommands
{
    public static Command Create()
    {
        var student = new Option<string>("--student") { Description = "checkpoint folder of the student to start from (with tokenizer.json)", Required = true };
        var teachers = Named("--teacher", "NAME=DIR: the teacher checkpoint of a domain (repeat per domain)", required: true);
        var prompts = Named("--prompts", "NAME=FILE: the domain's training prompts, JSON Lines {\"prompt\", \"answer\"?, \"reference\"?, \"max_tokens\"?, \"stop\"?}", required: true);
        var evalPrompts = Named("--eval", "NAME=FILE: the domain's held-out prompts for the curves", required: false);
        var output = new Option<string>("--out") { Description = "checkpoint folder to write (student + training/ state + curves)", Required = true };
        var d = Defaults;
        var steps = Opt("--steps", "rollout-and-update steps", d.Steps);
        var perStep = Opt("--prompts-per-step", "prompts rolled out per step, spread evenly over the domains", d.PromptsPerStep);
        var miniBatches = Opt("--mini-batches", "optimizer steps per rollout batch", d.MiniBatches);
        var lr = Opt("--lr", "peak learning rate (constant after warm-up)", d.LearningRate);
        var warmup = Opt("--warmup", "warm-up steps", d.WarmupSteps);
        var weightDecay = Opt("--weight-decay", "AdamW weight decay", d.WeightDecay);
        var gradClip = Opt("--grad-clip", "gradient-norm clip", d.GradClip);
        var temperature = Opt("--temperature", "rollout sampling temperature (1 = the policy)", d.Temperature);
        var maxTokens = Opt("--max-tokens", "response length for prompts that do not set max_tokens", d.MaxTokens);
        var isCap = Opt("--is-cap", "cap of the importance ratio π_θ/π_rollout", d.ImportanceCap);
        var outcome = Opt("--outcome-weight", "weight of the outcome reward on prompts with an answer", d.OutcomeWeight);
        var noReplay = new Option<bool>("--no-routing-replay") { Description = "let the training forward route by itself (turns R3 off, to measure its effect)" };
        var offPolicy = new Option<bool>("--off-policy") { Description = "baseline: fine-tune the student on teacher samples instead (same steps and prompts)" };
        var mtpWeight = Opt("--mtp-weight", "weight of the MTP heads' loss on the sampled sequences", d.MtpWeight);
        var speculative = Opt("--speculative", "MTP draft depth for rollouts (0 = plain decoding)", d.Speculative);
        var evalEvery = Opt("--eval-every", "steps between held-out evaluations (0 = never)", d.EvalEvery);
        var evalPrompts2 = Opt("--eval-prompts", "held-out prompts evaluated per domain", d.EvalPromptsPerDomain);
        var saveEvery = Opt("--save-every", "steps between checkpoints", d.SaveEvery);
        var seed = Opt("--seed", "random seed", d.Seed);
        var resume = new Option<bool>("--resume") { Description = "continue the run saved in --out" };
        var maxSteps = new Option<int?>("--max-steps-this-run") { Description = "save and stop after this many steps (resume later with --resume)" };
        var saveDtype = Cli.SaveDTypeOption(d.SaveDType);
        var threads = Cli.ThreadsOption(d.Threads);
        var json = Cli.JsonOption();
        var cmd = new Command("distill", "multi-teacher on-policy distillation (MOPD): the student samples, domain teachers score every token")
        {
            student, teachers, prompts, evalPrompts, output, steps, perStep, miniBatches, lr, warmup, weightDecay, gradClip, temperature,
            maxTokens, isCap, outcome, noReplay, offPolicy, mtpWeight, speculative, evalEvery, evalPrompts2, saveEvery, seed, resume,
            maxSteps, saveDtype, threads, json,
        };
        cmd.SetAction(r => Cli.Run(() =>
        {
            var options = new DistillOptions
            {
                Student = r.GetValue(student)!,
                Teachers = Parse(r.GetValue(teachers), "--teacher"),
                Prompts = Parse(r.GetValue(prompts), "--prompts"),
                EvalPrompts = Parse(r.GetValue(evalPrompts), "--eval"),
                OutputDirectory = r.GetValue(output)!,
                Steps = r.GetValue(steps),
                PromptsPerStep = r.GetValue(perStep),
                MiniBatches = r.GetValue(miniBatches),
                LearningRate = r.GetValue(lr),
                WarmupSteps = r.GetValue(warmup),
                WeightDecay = r.GetValue(weightDecay),
                GradClip = r.GetValue(gradClip),
                Temperature = r.GetValue(temperature),
                MaxTokens = r.GetValue(maxTokens),
                ImportanceCap = r.GetValue(isCap),
                OutcomeWeight = r.GetValue(outcome),
                RoutingReplay = !r.GetValue(noReplay),
                OffPolicy = r.GetValue(offPolicy),
                MtpWeight = r.GetValue(mtpWeight),
                Speculative = r.GetValue(speculative),
                EvalEvery = r.GetValue(evalEvery),
                EvalPromptsPerDomain = r.GetValue(evalPrompts2),
                SaveEvery = r.GetValue(saveEvery),
                Seed = r.GetValue(seed),
                Resume = r.GetValue(resume),
                MaxStepsThisRun = r.GetValue(maxSteps),
                SaveDType = Cli.SaveDType(r.GetValue(saveDtype)!),
                Threads = r.GetValue(threads),
            };
            var result = new Distiller(options, Console.Error, new DistillProgressLine(Console.Error)).Run();
            if (r.GetValue(json)) Cli.WriteJson(new { step = result.Step, finished = result.Finished, eval = result.LastEval });
            return 0;
        }));
        cmd.Subcommands.Add(CreateData());
        cmd.Subcommands.Add(CreateEval());
        cmd.Subcommands.Add(CreateCurves());
        return cmd;
    }

    /// <summary><c>mimo distill curves</c>: redraws a run's pictures, or compares several runs domain by domain.</summary>
    private static Command CreateCurves()
    {
        var runs = Named("--run", "NAME=DIR: a distillation output folder (repeat to compare runs)", required: true);
        var output = new Option<string>("--out") { Description = "folder for the SVG files", Required = true };
        var cmd = new Command("curves", "draw the reverse-KL, accuracy and reference-NLL curves of one run, or compare runs") { runs, output };
        cmd.SetAction(r => Cli.Run(() =>
        {
            var loaded = Parse(r.GetValue(runs), "--run").Select(kv => (kv.Key, DistillState.TryLoad(kv.Value)
                ?? throw new FileNotFoundException($"--run {kv.Key}={kv.Value}: {DistillState.PathIn(kv.Value)} is missing (not a mimo distill output folder)"))).ToList();
            string folder = r.GetValue(output)!;
            Directory.CreateDirectory(folder);
            var pictures = loaded.Count == 1
                ? DistillCurves.Draw(loaded[0].Item2, DistillCurves.Domains(loaded[0].Item2))
                : DistillCurves.Compare(loaded);
            foreach (var (file, svg) in pictures)
            {
                File.WriteAllText(Path.Combine(folder, file), svg);
                Console.Error.WriteLine($"wrote {Path.Combine(folder, file)}");
            }
            return 0;
        }));
        return cmd;
    }

    /// <summary><c>mimo distill eval</c>: the held-out figures of any model (base, teacher, student) against the domain teachers.</summary>
    private static Command CreateEval()
    {
        var model = new Option<string>("--model") { Description = "model folder to evaluate (with tokenizer.json)", Required = true };
        var teachers = Named("--teacher", "NAME=DIR: the teacher of a domain", required: true);
        var evalPrompts = Named("--eval", "NAME=FILE: the domain's held-out prompts", required: true);
        var count = Opt("--eval-prompts", "held-out prompts evaluated per domain", 200);
        var maxTokens = Opt("--max-tokens", "response length for prompts that do not set max_tokens", Defaults.MaxTokens);
        var seed = Opt("--seed", "random seed of the sampled responses", Defaults.Seed);
        var threads = Cli.ThreadsOption();
        var json = Cli.JsonOption();
        var cmd = new Command("eval", "reverse KL to each domain teacher, exact-match accuracy and reference perplexity on held-out prompts")
        {
            model, teachers, evalPrompts, count, maxTokens, seed, threads, json,
        };
        cmd.SetAction(r => Cli.Run(() =>
        {
            using var computeThreads = MimoSharp.Tensors.ComputePool.UseThreads(Cli.Threads(r, threads));
            var results = DomainEvaluation.Run(r.GetValue(model)!, Parse(r.GetValue(teachers), "--teacher"), Parse(r.GetValue(evalPrompts), "--eval"),
                r.GetValue(count), r.GetValue(maxTokens), r.GetValue(seed));
            if (r.GetValue(json))
            {
                Cli.WriteJson(new { model = r.GetValue(model), domains = results });
                return 0;
            }
            foreach (var e in results)
                Console.Out.WriteLine(FormattableString.Invariant($"{e.Domain}: reverse KL to teacher {e.ReverseKl:F4} nats/token") +
                    (e.Accuracy is double a ? FormattableString.Invariant($", accuracy {a:P1}") : "") +
                    (e.ReferencePerplexity is double p ? FormattableString.Invariant($", reference perplexity {p:F2}") : "") +
                    FormattableString.Invariant($" ({e.Prompts} prompts, {e.MeanResponseTokens:F1} sampled tokens each)"));
            return 0;
        }));
        return cmd;
    }

    private static Option<string[]> Named(string name, string description, bool required) => new(name)
    {
        Description = description,
        Required = required,
        AllowMultipleArgumentsPerToken = false,
        Arity = required ? ArgumentArity.OneOrMore : ArgumentArity.ZeroOrMore,
    };

    /// <summary>NAME=VALUE pairs into a map, naming a malformed or repeated one.</summary>
    private static Dictionary<string, string> Parse(string[]? pairs, string option)
    {
        var map = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var pair in pairs ?? [])
        {
            int eq = pair.IndexOf('=');
            if (eq <= 0 || eq == pair.Length - 1) throw new ArgumentException($"{option} \"{pair}\": expected NAME=PATH");
            string name = pair[..eq];
            if (!map.TryAdd(name, pair[(eq + 1)..])) throw new ArgumentException($"{option}: domain \"{name}\" is given twice");
        }
        return map;
    }

    private static Option<T> Opt<T>(string name, string description, T fallback) => Cli.Defaulted(name, description, fallback);

    /// <summary>The option defaults, from <see cref="DistillOptions"/> itself.</summary>
    private static DistillOptions Defaults => new() { Student = "", Teachers = s_none, Prompts = s_none, OutputDirectory = "" };

    private static readonly Dictionary<string, string> s_none = [];

    private static Command CreateData()
    {
        var corpus = new Option<string>("--corpus") { Description = "pre-training corpus text folder (scripts/corpus.sh writes .cache/corpus/text)", Required = true };
        var output = new Option<string>("--out") { Description = "folder for train/NAME.txt and NAME.{train,heldout}.jsonl", Required = true };
        var train = Cli.Defaulted("--train-prompts", "training prompts per domain", DomainData.DefaultTrainPrompts);
        var heldout = Cli.Defaulted("--heldout-prompts", "held-out prompts per domain", DomainData.DefaultHeldoutPrompts);
        var seed = Cli.Defaulted("--seed", "random seed", DomainData.DefaultSeed);
        var cmd = new Command("data", "build the arithmetic, code and definitions domains: teacher fine-tuning text and prompt files")
        {
            corpus, output, train, heldout, seed,
        };
        cmd.SetAction(r => Cli.Run(() =>
        {
            DomainData.Build(r.GetValue(corpus)!, r.GetValue(output)!, r.GetValue(train), r.GetValue(heldout), r.GetValue(seed), Console.Error);
            return 0;
        }));
        return cmd;
    }
}

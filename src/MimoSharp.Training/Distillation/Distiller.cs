using System.Diagnostics;
using MimoSharp.Model;
using MimoSharp.Tensors;
using MimoSharp.Text;
using MimoSharp.Training.Checkpoints;
using MimoSharp.Training.Compat;
using MimoSharp.Training.Model;
using MimoSharp.Training.Optim;
using MimoSharp.Training.Runs;
using static TorchSharp.torch;

namespace MimoSharp.Training.Distillation;

/// <summary>What a <see cref="Distiller.Run"/> call ended with.</summary>
public sealed record DistillResult(long Step, bool Finished, IReadOnlyList<DomainEval>? LastEval);

/// <summary>
/// Multi-Teacher On-Policy Distillation. Each step: take prompts from every domain → the inference engine samples
/// the student's responses (continuous batching) → the engine scores them under the student (π_rollout, and the
/// experts it chose) and under each prompt's domain teacher → per-token advantage → policy-gradient steps on
/// TorchSharp with routing replay → the new weights are written where the engine reloads them. Checkpoints hold
/// master weights, AdamW moments and the prompt cursors, so a resumed run continues the same trajectory.
/// </summary>
public sealed class Distiller(DistillOptions options, TextWriter log, IProgress<DistillProgress>? progress = null)
{
    private readonly DistillOptions _o = options;

    public DistillResult Run(CancellationToken cancel = default)
    {
        _o.Validate();
        LibTorchCompat.EnsureInitialized();
        NativeHeap.RetainFreedMemory();   // a step's gigabytes of tensors reused, not re-faulted from the kernel
        set_num_threads(Math.Max(1, _o.Threads));
        // The rollout engine's kernels run on this thread's pool setting for the whole run, as a loaded model's would.
        using var threads = ComputePool.UseThreads(Math.Max(1, _o.Threads));

        string tokenizerPath = Path.Combine(_o.Student, NetworkCheckpoint.TokenizerFileName);
        if (!File.Exists(tokenizerPath)) throw new FileNotFoundException($"the student {_o.Student} has no tokenizer.json (prompts are text)");
        var tokenizer = Tokenizer.FromFile(tokenizerPath);
        using var run = TrainingRun<DistillState>.Open(_o.OutputDirectory, _o.Resume);
        using var network = NetworkCheckpoint.Load(run.Saved is not null ? _o.OutputDirectory : _o.Student);
        var domains = LoadDomains(network, tokenizerPath, tokenizer);
        try
        {
            return Loop(run, network, domains, tokenizer, tokenizerPath, cancel);
        }
        finally
        {
            foreach (var d in domains) d.Dispose();
        }
    }

    private DistillResult Loop(TrainingRun<DistillState> run, MimoNetwork network, List<DistillDomain> domains, Tokenizer tokenizer,
        string tokenizerPath, CancellationToken cancel)
    {
        var state = run.Start(_o.Settings(network.Config), settings => new DistillState { Settings = settings });
        var optimizer = new AdamW(network.named_parameters().Select(p => (p.name, p.parameter))) { WeightDecay = _o.WeightDecay };
        if (run.Saved is not null) run.LoadOptimizer(network, optimizer, state, optimizerStep: state.Step * _o.MiniBatches);
        var schedule = new LearningRateSchedule(_o.LearningRate, _o.WarmupSteps, _o.Steps, 1.0);
        string engineFolder = Path.Combine(run.Folder, "engine");
        var student = SyncEngine(network, engineFolder, null);
        log.WriteLine($"distill: student {_o.Student} ({network.ParameterCount:N0} parameters), " +
                      $"domains {string.Join(", ", domains.Select(d => $"{d.Name} ({d.Train.Count} prompts, teacher {d.TeacherDirectory})"))}; " +
                      $"{_o.PromptsPerStep} prompts × {_o.MiniBatches} updates per step; " +
                      (_o.OffPolicy ? "off-policy baseline (teachers sample)" : $"on-policy, routing replay {(_o.RoutingReplay ? "on" : "off")}") +
                      (run.Saved is not null ? $"; resuming at step {state.Step}" : ""));
        List<DomainEval>? lastEval = null;
        int stepsThisRun = 0;
        var runClock = Stopwatch.StartNew();
        try
        {
            if (state.Step == 0 && state.EvalHistory.Count == 0 && _o.EvalEvery > 0) lastEval = Evaluate(student, domains, tokenizer, state);
            while (state.Step < _o.Steps)
            {
                if (cancel.IsCancellationRequested || (_o.MaxStepsThisRun is int max && stepsThisRun >= max)) break;
                var point = Step(network, optimizer, student, domains, tokenizer, state, schedule.At(state.Step));
                student = SyncEngine(network, engineFolder, student);
                state.Step++;
                stepsThisRun++;
                state.History.Add(point);
                progress?.Report(new DistillProgress(state.Step, _o.Steps, runClock.Elapsed, stepsThisRun, point, _o.ImportanceCap));
                bool last = state.Step == _o.Steps;
                if (_o.EvalEvery > 0 && (state.Step % _o.EvalEvery == 0 || last)) lastEval = Evaluate(student, domains, tokenizer, state);
                if (_o.SaveEvery > 0 && state.Step % _o.SaveEvery == 0 && !last) Save(run, network, optimizer, state, tokenizerPath, domains);
            }
            if (stepsThisRun > 0 || run.Saved is null) Save(run, network, optimizer, state, tokenizerPath, domains);
        }
        finally
        {
            student.Dispose();
        }
        log.WriteLine($"distill: stopped at step {state.Step}/{_o.Steps}; {state.TokensSampled:N0} tokens sampled; checkpoint {_o.OutputDirectory}");
        return new DistillResult(state.Step, state.Step >= _o.Steps, lastEval);
    }

    /// <summary>One rollout batch and its policy updates.</summary>
    private DistillPoint Step(MimoNetwork network, AdamW optimizer, MimoModel student, List<DistillDomain> domains, Tokenizer tokenizer,
        DistillState state, double lr)
    {
        // Rollouts: the student's own samples (on-policy), or each domain teacher's (the off-policy baseline).
        var clock = Stopwatch.StartNew();
        var prompts = RolloutBatch.NextPrompts(domains, state.Cursors, _o.PromptsPerStep, _o.Seed);
        ulong stepSeed = Rollouts.SeedOf(_o.Seed, state.Step);
        var responses = _o.OffPolicy
            ? RolloutBatch.SampleTeachers(domains, prompts, _o.Temperature, stepSeed, _o.Speculative)
            : Rollouts.Sample(student, prompts.Select(p => p.Prompt).ToList(), _o.Temperature, stepSeed, _o.Speculative);
        state.RolloutSeconds += clock.Elapsed.TotalSeconds;

        // Scores: π_rollout and the experts the engine chose; each domain's teacher on the same tokens; advantages.
        var scoreClock = Stopwatch.StartNew();
        var rollouts = RolloutBatch.Score(student, prompts, responses, tokenizer, recordRouting: !_o.OffPolicy, _o.OutcomeWeight);
        state.ScoringSeconds += scoreClock.Elapsed.TotalSeconds;

        // Policy updates: interleaved mini-batches, so each one mixes the domains.
        var trainClock = Stopwatch.StartNew();
        double policy = 0, mtp = 0, ratio = 0, truncated = 0, gradNorm = 0, mismatch = 0;
        foreach (var members in rollouts.MiniBatches(_o.MiniBatches))
        {
            using var scope = NewDisposeScope();
            using var batch = PolicyBatch.Pack(network.Config, rollouts, members);
            // With R3 off the trainer routes by itself: record its choice to measure how often it differs from the engine's.
            var own = !_o.RoutingReplay && batch.Routing is not null ? new RecordedRouting(network.Config, batch.Routing.Rows) : null;
            using var loss = MopdObjective.Compute(network, _o.RoutingReplay ? batch : batch with { Routing = null },
                _o.ImportanceCap, _o.MtpWeight, supervised: _o.OffPolicy, ownRouting: own);
            if (own is not null) mismatch += batch.Routing!.FractionDiffering(own, batch.RealRows);
            optimizer.ZeroGrad();
            loss.Total.backward();
            gradNorm += optimizer.ClipGradNorm(_o.GradClip);
            optimizer.Update(lr);
            policy += loss.Policy;
            mtp += loss.Mtp;
            ratio += loss.MeanRatio;
            truncated += loss.TruncatedFraction;
        }
        state.TrainingSeconds += trainClock.Elapsed.TotalSeconds;

        state.TokensSampled += responses.Sum(r => (long)r.Length);
        int n = _o.MiniBatches;
        return new DistillPoint(state.Step + 1, policy / n, mtp / n, ratio / n, truncated / n, gradNorm / n, lr, clock.Elapsed.TotalSeconds,
            rollouts.DomainFigures())
        {
            RoutingMismatch = !_o.RoutingReplay && !_o.OffPolicy ? mismatch / n : null,
        };
    }

    /// <summary>Writes the network where the engine reads it (float32, so the engine samples exactly the trained policy) and reloads it.</summary>
    private static MimoModel SyncEngine(MimoNetwork network, string engineFolder, MimoModel? previous)
    {
        NetworkCheckpoint.Save(network, engineFolder, WeightDType.F32);
        previous?.Dispose();
        return MimoModel.Load(engineFolder);
    }

    private List<DistillDomain> LoadDomains(MimoNetwork network, string tokenizerPath, Tokenizer tokenizer)
    {
        var encoder = new PromptEncoder(tokenizer, network.Config.MaxPositionEmbeddings);
        string studentTokenizer = Fingerprint.OfFile(tokenizerPath);
        var domains = new List<DistillDomain>();
        try
        {
            foreach (var (name, teacherDir) in _o.Teachers.OrderBy(t => t.Key, StringComparer.Ordinal))
            {
                var train = encoder.Encode(_o.Prompts[name], _o.MaxTokens);
                var heldout = _o.EvalPrompts.TryGetValue(name, out var evalPath) ? encoder.Encode(evalPath, _o.MaxTokens) : [];
                var teacher = MimoModel.Load(teacherDir);
                if (teacher.VocabSize != network.Config.VocabSize)
                {
                    teacher.Dispose();
                    throw new InvalidOperationException(
                        $"teacher {name} ({teacherDir}) has vocab_size {teacher.VocabSize} but the student has {network.Config.VocabSize}: MOPD scores the student's tokens, so both need one vocabulary");
                }
                string teacherTokenizer = Path.Combine(teacherDir, NetworkCheckpoint.TokenizerFileName);
                if (File.Exists(teacherTokenizer) && Fingerprint.OfFile(teacherTokenizer) != studentTokenizer)
                {
                    teacher.Dispose();
                    throw new InvalidOperationException($"teacher {name}'s tokenizer {teacherTokenizer} differs from the student's {tokenizerPath}: MOPD needs one vocabulary");
                }
                domains.Add(new DistillDomain(name, teacherDir, teacher, train, heldout));
            }
        }
        catch
        {
            foreach (var d in domains) d.Dispose();
            throw;
        }
        return domains;
    }

    private List<DomainEval> Evaluate(MimoModel student, List<DistillDomain> domains, Tokenizer tokenizer, DistillState state)
    {
        var results = domains.Where(d => d.Heldout.Count > 0)
            .Select(d => DistillEvaluator.Evaluate(student, d, tokenizer, _o.EvalPromptsPerDomain, _o.Seed)).ToList();
        state.EvalHistory.Add(new DistillEvalPoint(state.Step, results));
        foreach (var r in results)
            log.WriteLine(FormattableString.Invariant($"eval step {state.Step} {r.Domain}: reverse KL {r.ReverseKl:F4}") +
                (r.Accuracy is double a ? FormattableString.Invariant($", accuracy {a:P1}") : "") +
                (r.ReferencePerplexity is double p ? FormattableString.Invariant($", reference perplexity {p:F2}") : ""));
        return results;
    }

    private void Save(TrainingRun<DistillState> run, MimoNetwork network, AdamW optimizer, DistillState state, string tokenizerPath,
        List<DistillDomain> domains) =>
        run.Save(network, optimizer, state, _o.SaveDType, tokenizerPath, "mimo_distill_step",
            DistillCurves.Draw(state, domains.Select(d => d.Name).ToList()));
}

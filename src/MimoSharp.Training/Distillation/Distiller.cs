using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using MimoSharp.Checkpoints;
using MimoSharp.Inference;
using MimoSharp.Model;
using MimoSharp.Tensors;
using MimoSharp.Text;
using MimoSharp.Training.Checkpoints;
using MimoSharp.Training.Compat;
using MimoSharp.Training.Model;
using MimoSharp.Training.Optim;
using MimoSharp.Training.Trainer;
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
public sealed class Distiller
{
    private readonly DistillOptions _o;
    private readonly TextWriter _log;

    public Distiller(DistillOptions options, TextWriter log)
    {
        _o = options;
        _log = log;
    }

    private string EngineFolder => Path.Combine(_o.OutputDirectory, TrainState.Folder, "engine");
    private string TrainingFolder => Path.Combine(_o.OutputDirectory, TrainState.Folder);

    public DistillResult Run(CancellationToken cancel = default)
    {
        Validate();
        LibTorchCompat.EnsureInitialized();
        set_num_threads(Math.Max(1, _o.Threads));
        ComputePool.Threads = Math.Max(1, _o.Threads);

        string tokenizerPath = Path.Combine(_o.Student, NetworkCheckpoint.TokenizerFileName);
        if (!File.Exists(tokenizerPath)) throw new FileNotFoundException($"the student {_o.Student} has no tokenizer.json (prompts are text)");
        var tokenizer = Tokenizer.FromFile(tokenizerPath);
        Directory.CreateDirectory(_o.OutputDirectory);
        using var runLock = RunLock.Acquire(_o.OutputDirectory);
        var existing = DistillState.TryLoad(_o.OutputDirectory);
        if (existing is not null && !_o.Resume)
            throw new InvalidOperationException($"{_o.OutputDirectory} already holds a distillation run (step {existing.Step}); pass --resume to continue it or choose another --out folder");
        if (existing is null && _o.Resume)
            throw new InvalidOperationException($"--resume: {_o.OutputDirectory} holds no distillation run ({DistillState.PathIn(_o.OutputDirectory)} is missing)");
        NetworkCheckpoint.RemoveStaleTemporaries(_o.OutputDirectory);
        if (existing is null && Directory.Exists(TrainingFolder))
            foreach (var file in Directory.EnumerateFiles(TrainingFolder, "optimizer*.safetensors")) File.Delete(file);   // an uncommitted start's

        using var network = NetworkCheckpoint.Load(existing is not null ? _o.OutputDirectory : _o.Student);
        var domains = LoadDomains(network, tokenizerPath, tokenizer);
        try
        {
            return Loop(network, domains, tokenizer, tokenizerPath, existing, cancel);
        }
        finally
        {
            foreach (var d in domains) d.Dispose();
        }
    }

    private DistillResult Loop(MimoNetwork network, List<DistillDomain> domains, Tokenizer tokenizer, string tokenizerPath,
        DistillState? existing, CancellationToken cancel)
    {
        var settings = Settings(network);
        var state = existing ?? new DistillState { Settings = settings };
        if (existing is not null)
            foreach (var (key, value) in settings)
                if (existing.Settings.GetValueOrDefault(key) is var before && before != value)
                    throw new InvalidOperationException($"cannot resume {_o.OutputDirectory}: it was run with {key} = {before ?? "(unset)"}, this run asks for {value}");
        var optimizer = new AdamW(network.named_parameters().Select(p => (p.name, p.parameter))) { WeightDecay = _o.WeightDecay };
        if (existing is not null)
        {
            OptimizerCheckpoint.Load(network, optimizer, Path.Combine(TrainingFolder, state.OptimizerFile ?? OptimizerCheckpoint.LegacyFileName),
                _o.OutputDirectory, expectedStep: state.OptimizerFile is null ? null : state.Step * _o.MiniBatches);
            optimizer.Step = state.Step * _o.MiniBatches;
            state.History.RemoveAll(p => p.Step > state.Step);
            state.EvalHistory.RemoveAll(p => p.Step > state.Step);
        }
        var schedule = new LearningRateSchedule(_o.LearningRate, _o.WarmupSteps, _o.Steps, 1.0);
        var student = SyncEngine(network, null);
        _log.WriteLine($"distill: student {_o.Student} ({Trainer.Trainer.Parameters(network):N0} parameters), " +
                       $"domains {string.Join(", ", domains.Select(d => $"{d.Name} ({d.Train.Count} prompts, teacher {d.TeacherDirectory})"))}; " +
                       $"{_o.PromptsPerStep} prompts × {_o.MiniBatches} updates per step; " +
                       (_o.OffPolicy ? "off-policy baseline (teachers sample)" : $"on-policy, routing replay {(_o.RoutingReplay ? "on" : "off")}") +
                       (existing is not null ? $"; resuming at step {state.Step}" : ""));
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
                student = SyncEngine(network, student);
                state.Step++;
                stepsThisRun++;
                state.History.Add(point);
                Report(state, point, runClock.Elapsed, stepsThisRun);
                bool last = state.Step == _o.Steps;
                if (_o.EvalEvery > 0 && (state.Step % _o.EvalEvery == 0 || last)) lastEval = Evaluate(student, domains, tokenizer, state);
                if (_o.SaveEvery > 0 && state.Step % _o.SaveEvery == 0 && !last) Save(network, optimizer, state, tokenizerPath, domains);
            }
            if (stepsThisRun > 0 || existing is null) Save(network, optimizer, state, tokenizerPath, domains);
        }
        finally
        {
            student.Dispose();
        }
        _log.WriteLine($"distill: stopped at step {state.Step}/{_o.Steps}; {state.TokensSampled:N0} tokens sampled; checkpoint {_o.OutputDirectory}");
        return new DistillResult(state.Step, state.Step >= _o.Steps, lastEval);
    }

    /// <summary>One rollout batch and its updates.</summary>
    private DistillPoint Step(MimoNetwork network, AdamW optimizer, MimoModel student, List<DistillDomain> domains, Tokenizer tokenizer,
        DistillState state, double lr)
    {
        var clock = Stopwatch.StartNew();
        // Prompts: an even share per domain, each domain walking its own shuffled order.
        var batch = new List<(DistillDomain Domain, EncodedPrompt Prompt)>();
        for (int i = 0; i < _o.PromptsPerStep; i++)
        {
            var d = domains[i % domains.Count];
            long cursor = state.Cursors.GetValueOrDefault(d.Name);
            state.Cursors[d.Name] = cursor + 1;
            batch.Add((d, d.Train[Order(d, i % domains.Count, cursor)]));
        }

        // Rollouts: the student's own samples (on-policy), or each domain teacher's (the off-policy baseline).
        var responses = new int[batch.Count][];
        ulong stepSeed = Rollouts.SeedOf(_o.Seed, state.Step);
        if (_o.OffPolicy)
        {
            foreach (var group in batch.Select((b, i) => (b, i)).GroupBy(x => x.b.Domain))
            {
                var list = group.ToList();
                var sampled = Rollouts.Sample(group.Key.Teacher, list.Select(x => x.b.Prompt).ToList(), _o.Temperature, Rollouts.SeedOf(stepSeed, domains.IndexOf(group.Key)), _o.Speculative);
                for (int j = 0; j < list.Count; j++) responses[list[j].i] = sampled[j];
            }
        }
        else
        {
            responses = Rollouts.Sample(student, batch.Select(b => b.Prompt).ToList(), _o.Temperature, stepSeed, _o.Speculative);
        }
        state.RolloutSeconds += clock.Elapsed.TotalSeconds;
        var scoreClock = Stopwatch.StartNew();

        // π_rollout and the experts the engine chose; then each domain's teacher on the same tokens.
        var requests = batch.Select((b, i) => new ScoringRequest(b.Prompt.Ids, responses[i])).ToList();
        var rollout = SequenceScorer.Score(student, requests, recordRouting: !_o.OffPolicy);
        var teacherLogProbs = new float[batch.Count][];
        foreach (var group in batch.Select((b, i) => (b, i)).GroupBy(x => x.b.Domain))
        {
            var list = group.ToList();
            var scored = SequenceScorer.Score(group.Key.Teacher, list.Select(x => requests[x.i]).ToList());
            for (int j = 0; j < list.Count; j++) teacherLogProbs[list[j].i] = scored[j].LogProbs;
        }
        var advantages = new float[batch.Count][];
        var outcomes = new double?[batch.Count];
        for (int i = 0; i < batch.Count; i++)
        {
            var source = batch[i].Prompt.Source;
            if (source.Answer is not null) outcomes[i] = source.IsCorrect(tokenizer.Decode(responses[i])) ? 1 : 0;
            advantages[i] = MopdObjective.Advantages(teacherLogProbs[i], rollout[i].LogProbs, outcomes[i] ?? 0, _o.OutcomeWeight);
        }
        state.ScoringSeconds += scoreClock.Elapsed.TotalSeconds;
        var trainClock = Stopwatch.StartNew();

        // Updates: interleaved mini-batches, so each one mixes the domains.
        double policy = 0, mtp = 0, ratio = 0, truncated = 0, gradNorm = 0, mismatch = 0;
        for (int m = 0; m < _o.MiniBatches; m++)
        {
            var members = Enumerable.Range(0, batch.Count).Where(i => i % _o.MiniBatches == m).ToList();
            if (members.Count == 0) continue;
            using var scope = NewDisposeScope();
            using var packed = Pack(network, members, batch.Select(b => b.Prompt.Ids).ToList(), responses, rollout, advantages);
            // With R3 off, the trainer routes by itself: measure how often it picks other experts than the engine did.
            bool measure = !_o.RoutingReplay && packed.Routing is not null;
            var policyBatch = _o.RoutingReplay ? packed : packed with { Routing = null };
            foreach (var (_, moe) in network.MoeLayers) moe.RecordIndices = measure;
            using var loss = MopdObjective.Compute(network, policyBatch, _o.ImportanceCap, _o.MtpWeight, supervised: _o.OffPolicy);
            if (measure) mismatch += RoutingMismatch(network, packed);
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

        var perDomain = new SortedDictionary<string, DomainStepPoint>(StringComparer.Ordinal);
        foreach (var group in batch.Select((b, i) => (b, i)).GroupBy(x => x.b.Domain.Name))
        {
            double kl = 0, adv = 0;
            long tokens = 0;
            foreach (var (_, i) in group)
                for (int t = 0; t < responses[i].Length; t++, tokens++)
                {
                    kl += rollout[i].LogProbs[t] - teacherLogProbs[i][t];
                    adv += advantages[i][t];
                }
            var checkable = group.Where(x => outcomes[x.i] is not null).ToList();
            perDomain[group.Key] = new DomainStepPoint(tokens > 0 ? kl / tokens : 0, tokens > 0 ? adv / tokens : 0,
                checkable.Count > 0 ? checkable.Average(x => outcomes[x.i]!.Value) : null, tokens);
        }
        state.TokensSampled += responses.Sum(r => (long)r.Length);
        int n = _o.MiniBatches;
        return new DistillPoint(state.Step + 1, policy / n, mtp / n, ratio / n, truncated / n, gradNorm / n, lr, clock.Elapsed.TotalSeconds, perDomain)
        {
            RoutingMismatch = !_o.RoutingReplay && !_o.OffPolicy ? mismatch / n : null,
        };
    }

    /// <summary>
    /// Fraction of (token, MoE layer) pairs of the real (unpadded) rows where the trainer's last forward chose another
    /// expert set than the rollout engine recorded.
    /// </summary>
    private static double RoutingMismatch(MimoNetwork network, PolicyBatch batch)
    {
        using var scope = NewDisposeScope();
        var real = batch.RealRows ?? throw new InvalidOperationException("the batch does not say which rows are padding");
        double differing = 0, total = 0;
        for (int i = 0; i < network.MoeLayers.Count; i++)
        {
            var own = network.MoeLayers[i].Moe.LastIndices!.sort(1).Values;
            var recorded = batch.Routing![i].sort(1).Values;
            var differs = own.ne(recorded).any(1) & real;
            differing += differs.sum().item<long>();
            total += real.sum().item<long>();
        }
        return total > 0 ? differing / total : 0;
    }

    /// <summary>Pads the members' sequences into a <see cref="PolicyBatch"/>.</summary>
    private PolicyBatch Pack(MimoNetwork network, List<int> members, List<int[]> prompts, int[][] responses, ScoredSequence[] rollout, float[][] advantages)
    {
        int b = members.Count;
        int t = members.Max(i => prompts[i].Length + responses[i].Length);
        var tokens = new long[b * t];
        var realRows = new bool[b * t];
        var mask = new float[b * (t - 1)];
        var logProbs = new float[b * (t - 1)];
        var adv = new float[b * (t - 1)];
        int k = network.Config.NumExpertsPerTok;
        bool replay = rollout[members[0]].Routing is not null;
        var routes = replay ? network.MoeLayers.Select(_ => new long[b * t * k]).ToArray() : null;
        for (int r = 0; r < b; r++)
        {
            int i = members[r], p = prompts[i].Length, c = responses[i].Length;
            realRows.AsSpan(r * t, p + c).Fill(true);
            for (int j = 0; j < p; j++) tokens[r * t + j] = prompts[i][j];
            for (int j = 0; j < c; j++)
            {
                tokens[r * t + p + j] = responses[i][j];
                int col = r * (t - 1) + p + j - 1;          // column p+j-1 predicts token p+j
                mask[col] = 1;
                logProbs[col] = rollout[i].LogProbs[j];
                adv[col] = advantages[i][j];
            }
            if (routes is null) continue;
            for (int layer = 0; layer < routes.Length; layer++)
            {
                var recorded = rollout[i].Routing![layer];
                for (int x = 0; x < (p + c) * k; x++) routes[layer][r * t * k + x] = recorded[x];
                for (int x = (p + c) * k; x < t * k; x++) routes[layer][r * t * k + x] = x % k;   // padding rows: any distinct experts
            }
        }
        return new PolicyBatch(tensor(tokens, [b, t]), tensor(mask, [b, t - 1]), tensor(logProbs, [b, t - 1]), tensor(adv, [b, t - 1]),
            routes?.Select(r => tensor(r, [b * t, k])).ToArray())
        { RealRows = tensor(realRows) };
    }

    /// <summary>Index of the cursor-th prompt of a domain: a fresh seeded permutation per pass over the prompts.</summary>
    private int Order(DistillDomain domain, int domainIndex, long cursor)
    {
        int n = domain.Train.Count;
        long pass = cursor / n;
        var random = new Random((int)(Rollouts.SeedOf(Rollouts.SeedOf(_o.Seed, domainIndex), pass) & int.MaxValue));
        var permutation = Enumerable.Range(0, n).ToArray();
        random.Shuffle(permutation);
        return permutation[cursor % n];
    }

    /// <summary>Writes the network where the engine reads it (float32, so the engine samples exactly the trained policy) and reloads it.</summary>
    private MimoModel SyncEngine(MimoNetwork network, MimoModel? previous)
    {
        NetworkCheckpoint.Save(network, EngineFolder, WeightDType.F32);
        previous?.Dispose();
        return MimoModel.Load(EngineFolder);
    }

    private List<DistillDomain> LoadDomains(MimoNetwork network, string tokenizerPath, Tokenizer tokenizer)
    {
        var encoder = new PromptEncoder(tokenizer, network.Config.MaxPositionEmbeddings);
        string studentTokenizer = Sha256(tokenizerPath);
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
                if (File.Exists(teacherTokenizer) && Sha256(teacherTokenizer) != studentTokenizer)
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
            _log.WriteLine(FormattableString.Invariant($"eval step {state.Step} {r.Domain}: reverse KL {r.ReverseKl:F4}") +
                (r.Accuracy is double a ? FormattableString.Invariant($", accuracy {a:P1}") : "") +
                (r.ReferencePerplexity is double p ? FormattableString.Invariant($", reference perplexity {p:F2}") : ""));
        return results;
    }

    private void Report(DistillState state, DistillPoint point, TimeSpan elapsed, int stepsThisRun)
    {
        const int barWidth = 20;
        int filled = (int)(barWidth * state.Step / Math.Max(1, _o.Steps));
        var eta = TimeSpan.FromSeconds(elapsed.TotalSeconds / stepsThisRun * (_o.Steps - state.Step));
        string domains = string.Join(" ", point.Domains.Select(d => string.Create(CultureInfo.InvariantCulture, $"{d.Key} {d.Value.ReverseKl:F3}")));
        string mismatch = point.RoutingMismatch is double m ? FormattableString.Invariant($"routing mismatch {m:P2} ") : "";
        _log.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"[{new string('#', filled)}{new string('-', barWidth - filled)}] step {state.Step}/{_o.Steps} reverse KL {domains} | loss {point.PolicyLoss:F4} " +
            $"ratio {point.MeanRatio:F3} (>{_o.ImportanceCap}: {point.TruncatedFraction:P1}) |g| {point.GradNorm:F2} " +
            $"{mismatch}{point.Seconds:F1}s/step ETA {(int)eta.TotalHours}:{eta.Minutes:D2}:{eta.Seconds:D2}"));
        _log.Flush();
    }

    private void Save(MimoNetwork network, AdamW optimizer, DistillState state, string tokenizerPath, List<DistillDomain> domains)
    {
        var metadata = new Dictionary<string, string> { ["mimo_distill_step"] = state.Step.ToString(CultureInfo.InvariantCulture) };
        NetworkCheckpoint.Save(network, _o.OutputDirectory, _o.SaveDType, tokenizerPath, metadata);
        state.OptimizerFile = OptimizerCheckpoint.SaveStep(network, optimizer, TrainingFolder);
        state.Save(_o.OutputDirectory);   // the commit point: a kill before this resumes from the previous save
        OptimizerCheckpoint.Prune(TrainingFolder, state.OptimizerFile);
        foreach (var (file, svg) in DistillCurves.Draw(state, domains.Select(d => d.Name).ToList()))
            NetworkCheckpoint.WriteAtomically(Path.Combine(_o.OutputDirectory, file), svg);
    }

    private SortedDictionary<string, string> Settings(MimoNetwork network)
    {
        string F(double v) => v.ToString("R", CultureInfo.InvariantCulture);
        var s = new SortedDictionary<string, string>(StringComparer.Ordinal)
        {
            ["config_sha256"] = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(NetworkCheckpoint.ConfigJson(network.Config, WeightDType.F32)))),
            ["prompts_per_step"] = _o.PromptsPerStep.ToString(CultureInfo.InvariantCulture),
            ["mini_batches"] = _o.MiniBatches.ToString(CultureInfo.InvariantCulture),
            ["lr"] = F(_o.LearningRate),
            ["warmup"] = _o.WarmupSteps.ToString(CultureInfo.InvariantCulture),
            ["weight_decay"] = F(_o.WeightDecay),
            ["temperature"] = F(_o.Temperature),
            ["importance_cap"] = F(_o.ImportanceCap),
            ["outcome_weight"] = F(_o.OutcomeWeight),
            ["routing_replay"] = _o.RoutingReplay ? "true" : "false",
            ["off_policy"] = _o.OffPolicy ? "true" : "false",
            ["mtp_weight"] = F(_o.MtpWeight),
            ["seed"] = _o.Seed.ToString(CultureInfo.InvariantCulture),
        };
        foreach (var (name, dir) in _o.Teachers) s["teacher." + name] = Path.GetFullPath(dir);
        foreach (var (name, file) in _o.Prompts) s["prompts." + name] = Sha256(file);
        return s;
    }

    private void Validate()
    {
        void Require(bool ok, string message)
        {
            if (!ok) throw new ArgumentException(message);
        }
        Require(_o.Teachers.Count > 0, "give at least one --teacher NAME=DIR");
        foreach (var name in _o.Prompts.Keys)
            Require(_o.Teachers.ContainsKey(name), $"--prompts {name}=…: unknown domain \"{name}\" (no --teacher {name}=DIR; teachers: {string.Join(", ", _o.Teachers.Keys)})");
        foreach (var name in _o.EvalPrompts.Keys)
            Require(_o.Teachers.ContainsKey(name), $"--eval {name}=…: unknown domain \"{name}\" (no --teacher {name}=DIR; teachers: {string.Join(", ", _o.Teachers.Keys)})");
        foreach (var name in _o.Teachers.Keys)
            Require(_o.Prompts.ContainsKey(name), $"--teacher {name}=…: domain \"{name}\" has no --prompts {name}=FILE");
        foreach (var (name, dir) in _o.Teachers)
            Require(Directory.Exists(dir) || File.Exists(dir), $"--teacher {name}={dir}: no such checkpoint folder");
        Require(_o.Steps > 0, $"--steps must be positive, got {_o.Steps}");
        Require(_o.PromptsPerStep > 0, $"--prompts-per-step must be positive, got {_o.PromptsPerStep}");
        Require(_o.MiniBatches > 0 && _o.MiniBatches <= _o.PromptsPerStep, $"--mini-batches must be in 1..--prompts-per-step, got {_o.MiniBatches}");
        Require(_o.LearningRate > 0, $"--lr must be positive, got {_o.LearningRate}");
        Require(_o.Temperature > 0, $"--temperature must be positive for sampled rollouts, got {_o.Temperature}");
        Require(_o.ImportanceCap > 0, $"--is-cap must be positive, got {_o.ImportanceCap}");
        Require(_o.MaxTokens > 0, $"--max-tokens must be positive, got {_o.MaxTokens}");
        Require(_o.WarmupSteps >= 1, $"--warmup must be at least 1, got {_o.WarmupSteps}");
        Require(_o.Speculative >= 0, $"--speculative must be ≥ 0, got {_o.Speculative}");
    }

    private static string Sha256(string path) => Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(path)));
}

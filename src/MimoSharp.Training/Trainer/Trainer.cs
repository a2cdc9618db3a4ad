using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using MimoSharp.Checkpoints;
using MimoSharp.Config;
using MimoSharp.Training.Checkpoints;
using MimoSharp.Training.Compat;
using MimoSharp.Training.Data;
using MimoSharp.Training.Model;
using MimoSharp.Training.Optim;
using static TorchSharp.torch;

namespace MimoSharp.Training.Trainer;

/// <summary>What a <see cref="Trainer.Run"/> call ended with.</summary>
public sealed record TrainResult(long Step, bool Finished, double LastLoss, EvalResult? LastEval, double TokensPerSecond);

/// <summary>
/// Pre-training with the MTP objective, nanoGPT-style: data → forward → loss → backward → clip → AdamW step →
/// balance routers → log → evaluate → checkpoint. Deterministic for a seed and thread count; a checkpoint holds the
/// master weights, AdamW moments, router biases and data position, so a resumed run continues the same trajectory.
/// </summary>
public sealed class Trainer
{
    private readonly TrainOptions _o;
    private readonly TextWriter _log;

    public Trainer(TrainOptions options, TextWriter log)
    {
        _o = options;
        _log = log;
    }

    public TrainResult Run(CancellationToken cancel = default)
    {
        Validate();
        LibTorchCompat.EnsureInitialized();
        set_num_threads(Math.Max(1, _o.Threads));

        var meta = CorpusMeta.Load(_o.DataDirectory);
        string corpusTokenizer = Path.Combine(_o.DataDirectory, NetworkCheckpoint.TokenizerFileName);
        EnsureWritable(_o.OutputDirectory);
        using var runLock = RunLock.Acquire(_o.OutputDirectory);
        var existing = TrainState.TryLoad(_o.OutputDirectory);
        if (existing is not null && !_o.Resume)
            throw new InvalidOperationException(
                $"{_o.OutputDirectory} already holds a training run (step {existing.Step}); pass --resume to continue it or choose another --out folder");
        if (existing is null && _o.Resume)
            throw new InvalidOperationException($"--resume: {_o.OutputDirectory} holds no training run ({TrainState.PathIn(_o.OutputDirectory)} is missing)");
        NetworkCheckpoint.RemoveStaleTemporaries(_o.OutputDirectory);
        if (existing is null) ForgetUncommittedStart();

        using var network = existing is not null ? NetworkCheckpoint.Load(_o.OutputDirectory) : CreateNetwork(meta);
        if (network.Config.VocabSize != meta.VocabSize)
            throw new InvalidOperationException(
                $"the model's vocab_size is {network.Config.VocabSize} but the corpus {_o.DataDirectory} was packed with a tokenizer of {meta.VocabSize} ids");
        var settings = Settings(network.Config, meta);
        var state = existing ?? new TrainState { Settings = settings };
        if (existing is not null) CheckResumable(existing, settings);

        var optimizer = new AdamW(network.named_parameters().Select(p => (p.name, p.parameter))) { WeightDecay = _o.WeightDecay };
        if (existing is not null) LoadOptimizer(network, optimizer, existing);

        var train = TokenDataset.Load(_o.DataDirectory, meta, heldout: false, _o.ContextLength, _o.Seed);
        var heldout = TokenDataset.Load(_o.DataDirectory, meta, heldout: true, _o.ContextLength, _o.Seed);
        // Evenly spaced over the held-out split, so every source is represented (the split is stored source by source).
        int evalCount = (int)Math.Min(_o.EvalWindows, heldout.WindowCount);
        var evalWindows = Enumerable.Range(0, evalCount)
            .Select(i => heldout.Window(i * heldout.WindowCount / evalCount).ToArray()).ToList();
        var schedule = new LearningRateSchedule(_o.LearningRate, _o.WarmupSteps, _o.Steps, _o.MinLearningRateFraction, _o.DecayFraction);
        _log.WriteLine(
            $"train: {Parameters(network):N0} parameters, {network.Layers.Count} layers + {network.MtpLayers.Count} MTP, vocab {meta.VocabSize}; " +
            $"corpus {meta.TrainTokens:N0} train / {meta.HeldoutTokens:N0} held-out tokens; {_o.BatchSize}×{_o.ContextLength} tokens per step; " +
            (existing is not null ? $"resuming at step {state.Step}" : "from " + (_o.InitFrom ?? "scratch")));

        state.TrainingFlopsPerToken = TrainingFlops.TrainingPerToken(network.Config, network.MtpLayers.Count, _o.ContextLength);
        state.MatmulPeakFlops = TrainingFlops.MeasurePeak(_o.Bf16 ? ScalarType.BFloat16 : ScalarType.Float32);
        _log.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"train: {state.TrainingFlopsPerToken / 1e6:F1} MFLOP per trained token; measured {(_o.Bf16 ? "bf16" : "f32")} matmul peak " +
            $"{state.MatmulPeakFlops / 1e9:F1} GFLOP/s at {_o.Threads} threads"));
        var batch = new long[_o.BatchSize * _o.ContextLength];
        var progress = new Progress(_log, _o.Steps, state.TrainingFlopsPerToken, state.MatmulPeakFlops);
        var loadSums = network.MoeLayers.Select(_ => new long[network.Config.NRoutedExperts]).ToArray();
        var window = new Window();
        var runClock = Stopwatch.StartNew();
        int stepsThisRun = 0;
        EvalResult? lastEval = null;
        double lastLoss = double.NaN;
        using var precision = ComputePrecision.Use(_o.Bf16 ? ScalarType.BFloat16 : ScalarType.Float32);

        while (state.Step < _o.Steps)
        {
            if (cancel.IsCancellationRequested || (_o.MaxStepsThisRun is int max && stepsThisRun >= max)) break;
            var stepClock = Stopwatch.StartNew();
            double lr = schedule.At(state.Step);
            train.Batch(state.DataPosition, _o.BatchSize, batch);

            double loss, mainLoss, gradNorm;
            double[] mtpLoss;
            using (var scope = NewDisposeScope())
            {
                var tokens = tensor(batch, [_o.BatchSize, _o.ContextLength]);
                using var losses = MtpObjective.Compute(network, tokens, _o.MtpWeight);
                optimizer.ZeroGrad();
                losses.Total.backward();
                gradNorm = optimizer.ClipGradNorm(_o.GradClip);
                optimizer.Update(lr);
                loss = losses.Total.item<float>();
                mainLoss = losses.Main.item<float>();
                mtpLoss = losses.Mtp.Select(m => (double)m.item<float>()).ToArray();
            }
            for (int i = 0; i < network.MoeLayers.Count; i++)
            {
                var moe = network.MoeLayers[i].Moe;
                if (_o.BalanceGamma > 0) moe.Gate.BalanceStep(moe.LastLoad, _o.BalanceGamma);
                for (int e = 0; e < moe.LastLoad.Length; e++) loadSums[i][e] += moe.LastLoad[e];
            }
            if (!double.IsFinite(loss))
                throw new InvalidOperationException($"the loss became {loss} at step {state.Step}; lower --lr or raise --warmup");

            state.Step++;
            stepsThisRun++;
            state.DataPosition += _o.BatchSize;
            state.TokensSeen += (long)_o.BatchSize * _o.ContextLength;
            double seconds = stepClock.Elapsed.TotalSeconds;
            state.TrainSeconds += seconds;
            window.Add(loss, mainLoss, mtpLoss, (long)_o.BatchSize * _o.ContextLength, seconds);
            lastLoss = loss;

            bool last = state.Step == _o.Steps;
            if (state.Step % _o.LogEvery == 0 || last)
            {
                var point = window.Point(state.Step, lr, gradNorm) with
                {
                    TokensPerSecond = window.TokensPerSecond,
                    Mfu = window.TokensPerSecond * state.TrainingFlopsPerToken / state.MatmulPeakFlops,
                };
                state.History.Add(point);
                string loads = LoadSummary(network, loadSums);
                AppendMetrics(point, network, loadSums);
                foreach (var l in loadSums) Array.Clear(l);
                progress.Report(state.Step, point, window.TokensPerSecond, runClock.Elapsed, stepsThisRun, loads);
                window = new Window();
            }
            else
            {
                progress.Tick(state.Step, loss, mtpLoss, window.TokensPerSecond, runClock.Elapsed, stepsThisRun);
            }
            if (_o.EvalEvery > 0 && (state.Step % _o.EvalEvery == 0 || last))
            {
                lastEval = Evaluate(network, evalWindows, state);
            }
            if (_o.SaveEvery > 0 && state.Step % _o.SaveEvery == 0 && !last) Save(network, optimizer, state, corpusTokenizer);
        }
        progress.Done();
        if (stepsThisRun > 0 || existing is null) Save(network, optimizer, state, corpusTokenizer);
        double tps = state.TrainSeconds > 0 ? state.TokensSeen / state.TrainSeconds : 0;
        _log.WriteLine($"train: stopped at step {state.Step}/{_o.Steps}; checkpoint {_o.OutputDirectory}");
        return new TrainResult(state.Step, state.Step >= _o.Steps, lastLoss, lastEval, tps);
    }

    private EvalResult Evaluate(MimoNetwork network, List<int[]> windows, TrainState state)
    {
        EvalResult result;
        using (ComputePrecision.Use(ScalarType.Float32)) result = Evaluator.Evaluate(network, windows);
        state.EvalHistory.Add(new EvalPoint(state.Step, result.Loss, result.Perplexity, result.MtpLoss, result.MtpAccuracy));
        _log.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"eval step {state.Step}: held-out loss {result.Loss:F4}, perplexity {result.Perplexity:F2}, MTP top-1 accuracy " +
            $"[{string.Join(", ", result.MtpAccuracy.Select(a => a.ToString("F3", CultureInfo.InvariantCulture)))}] over {result.Tokens:N0} tokens"));
        return result;
    }

    private void Validate()
    {
        void Require(bool ok, string message)
        {
            if (!ok) throw new ArgumentException(message);
        }
        Require(_o.Steps > 0, $"--steps must be positive, got {_o.Steps}");
        Require(_o.BatchSize > 0, $"--batch-size must be positive, got {_o.BatchSize}");
        Require(_o.ContextLength >= 8, $"--context must be at least 8 tokens, got {_o.ContextLength}");
        Require(_o.LearningRate > 0, $"--lr must be positive, got {_o.LearningRate}");
        Require(_o.WarmupSteps >= 1, $"--warmup must be at least 1, got {_o.WarmupSteps}");
        Require(_o.DecayFraction is null or (> 0 and <= 1), $"--decay-fraction must be in (0, 1], got {_o.DecayFraction}");
        Require(_o.MtpWeight >= 0, $"--mtp-weight must be ≥ 0, got {_o.MtpWeight}");
        Require(_o.BalanceGamma >= 0, $"--balance-gamma must be ≥ 0, got {_o.BalanceGamma}");
        Require(_o.LogEvery > 0, $"--log-every must be positive, got {_o.LogEvery}");
        Require(_o.MtpLayers >= 0, $"--mtp-layers must be ≥ 0, got {_o.MtpLayers}");
        Require(_o.ConfigPath is null || _o.InitFrom is null, "give either --config (train from scratch) or --init-from (fine-tune), not both");
        Require(_o.Resume || _o.ConfigPath is not null || _o.InitFrom is not null,
            "give --config FILE to train from scratch, --init-from DIR to fine-tune, or --resume to continue --out");
        Require(_o.ContextLength - _o.MtpLayers - 2 > 0, $"--context {_o.ContextLength} is too short for {_o.MtpLayers} MTP depths");
    }

    private MimoNetwork CreateNetwork(CorpusMeta meta)
    {
        if (_o.InitFrom is not null)
        {
            string tokenizer = Path.Combine(_o.InitFrom, NetworkCheckpoint.TokenizerFileName);
            if (File.Exists(tokenizer) && Sha256(tokenizer) != meta.TokenizerSha256)
                throw new InvalidOperationException(
                    $"{tokenizer} differs from the tokenizer the corpus {_o.DataDirectory} was packed with; re-pack the corpus with it");
            _log.WriteLine($"train: initialising from {_o.InitFrom}");
            return NetworkCheckpoint.Load(_o.InitFrom);
        }
        var config = MimoConfig.Load(_o.ConfigPath!);
        manual_seed((long)(_o.Seed & long.MaxValue));
        var network = new MimoNetwork(config, _o.MtpLayers);
        double std = config.Raw?["initializer_range"] is System.Text.Json.Nodes.JsonValue v && v.TryGetValue(out double r) ? r : 0.02;
        network.InitializeWeights(std);
        return network;
    }

    private SortedDictionary<string, string> Settings(MimoConfig config, CorpusMeta meta)
    {
        string F(double v) => v.ToString("R", CultureInfo.InvariantCulture);
        var settings = new SortedDictionary<string, string>(StringComparer.Ordinal)
        {
            ["config_sha256"] = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(NetworkCheckpoint.ConfigJson(config, WeightDType.F32)))),
            ["corpus_tokenizer_sha256"] = meta.TokenizerSha256,
            ["corpus_train_tokens"] = meta.TrainTokens.ToString(CultureInfo.InvariantCulture),
            ["batch_size"] = _o.BatchSize.ToString(CultureInfo.InvariantCulture),
            ["context"] = _o.ContextLength.ToString(CultureInfo.InvariantCulture),
            ["lr"] = F(_o.LearningRate),
            ["min_lr_fraction"] = F(_o.MinLearningRateFraction),
            ["warmup"] = _o.WarmupSteps.ToString(CultureInfo.InvariantCulture),
            ["weight_decay"] = F(_o.WeightDecay),
            ["grad_clip"] = F(_o.GradClip),
            ["mtp_weight"] = F(_o.MtpWeight),
            ["balance_gamma"] = F(_o.BalanceGamma),
            ["seed"] = _o.Seed.ToString(CultureInfo.InvariantCulture),
            ["bf16"] = _o.Bf16 ? "true" : "false",
        };
        // Only WSD runs carry the key, so cosine runs saved before it existed still resume.
        if (_o.DecayFraction is double fraction) settings["schedule"] = "wsd:" + F(fraction);
        return settings;
    }

    private void CheckResumable(TrainState saved, SortedDictionary<string, string> now)
    {
        foreach (var (key, value) in now)
        {
            string? before = saved.Settings.GetValueOrDefault(key);
            if (before != value)
                throw new InvalidOperationException(
                    $"cannot resume {_o.OutputDirectory}: it was trained with {key} = {before ?? "(unset)"}, this run asks for {value}");
        }
    }

    private void Save(MimoNetwork network, AdamW optimizer, TrainState state, string tokenizer)
    {
        var metadata = new Dictionary<string, string> { ["mimo_train_step"] = state.Step.ToString(CultureInfo.InvariantCulture) };
        NetworkCheckpoint.Save(network, _o.OutputDirectory, _o.SaveDType, File.Exists(tokenizer) ? tokenizer : null, metadata);
        string folder = Path.Combine(_o.OutputDirectory, TrainState.Folder);
        state.OptimizerFile = OptimizerCheckpoint.SaveStep(network, optimizer, folder);
        state.Save(_o.OutputDirectory);   // the commit point: a kill before this resumes from the previous save
        OptimizerCheckpoint.Prune(folder, state.OptimizerFile);
        NetworkCheckpoint.WriteAtomically(Path.Combine(_o.OutputDirectory, "loss.svg"), Curve(state, network.MtpLayers.Count));
    }

    private void LoadOptimizer(MimoNetwork network, AdamW optimizer, TrainState state)
    {
        OptimizerCheckpoint.Load(network, optimizer,
            Path.Combine(_o.OutputDirectory, TrainState.Folder, state.OptimizerFile ?? OptimizerCheckpoint.LegacyFileName), _o.OutputDirectory,
            expectedStep: state.OptimizerFile is null ? null : state.Step);
        optimizer.Step = state.Step;
        // Drop metrics logged after the checkpoint so the file follows the resumed trajectory.
        string metrics = Path.Combine(_o.OutputDirectory, TrainState.Folder, "metrics.jsonl");
        if (File.Exists(metrics))
        {
            var keep = File.ReadAllLines(metrics).Where(l => StepOf(l) is long step && step <= state.Step);
            NetworkCheckpoint.WriteAtomically(metrics, string.Concat(keep.Select(l => l + "\n")));
        }
        state.History.RemoveAll(p => p.Step > state.Step);
        state.EvalHistory.RemoveAll(p => p.Step > state.Step);
    }

    /// <summary>
    /// A new run in a folder where an earlier start was killed before its first save: its metrics and optimizer
    /// files belong to no committed state, and appending to them would mix two runs.
    /// </summary>
    private void ForgetUncommittedStart()
    {
        string folder = Path.Combine(_o.OutputDirectory, TrainState.Folder);
        if (!Directory.Exists(folder)) return;
        File.Delete(Path.Combine(folder, "metrics.jsonl"));
        foreach (var file in Directory.EnumerateFiles(folder, "optimizer*.safetensors")) File.Delete(file);
    }

    /// <summary>The step of one metrics.jsonl line; null for a line a kill cut short.</summary>
    private static long? StepOf(string line)
    {
        try
        {
            using var doc = JsonDocument.Parse(line);
            return doc.RootElement.TryGetProperty("step", out var step) && step.TryGetInt64(out long s) ? s : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }

    private static string Curve(TrainState state, int depths)
    {
        string[] colors = ["#d62728", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2"];
        var series = new List<LossCurve.Series>
        {
            new("train (main)", "#1f77b4", state.History.Select(p => ((double)p.Step, p.MainLoss)).ToList()),
        };
        for (int k = 0; k < depths; k++)
            series.Add(new($"train MTP depth {k}", colors[k % colors.Length],
                state.History.Where(p => p.MtpLoss.Length > k).Select(p => ((double)p.Step, p.MtpLoss[k])).ToList()));
        series.Add(new("held-out (main)", "#2ca02c", state.EvalHistory.Select(p => ((double)p.Step, p.Loss)).ToList(), Dots: true));
        return LossCurve.Svg(series, $"MiMo pre-training: {state.TokensSeen:N0} tokens, step {state.Step}");
    }

    private void AppendMetrics(TrainPoint point, MimoNetwork network, long[][] loadSums)
    {
        var load = new Dictionary<string, double[]>();
        for (int i = 0; i < network.MoeLayers.Count; i++)
        {
            double total = Math.Max(1, loadSums[i].Sum());
            load[$"layer{network.MoeLayers[i].Layer}"] = loadSums[i].Select(c => c / total).ToArray();
        }
        string line = JsonSerializer.Serialize(new
        {
            step = point.Step,
            loss = point.Loss,
            main_loss = point.MainLoss,
            mtp_loss = point.MtpLoss,
            lr = point.LearningRate,
            grad_norm = point.GradNorm,
            tokens_per_second = point.TokensPerSecond,
            mfu = point.Mfu,
            expert_load = load,
        });
        string path = Path.Combine(_o.OutputDirectory, TrainState.Folder, "metrics.jsonl");
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.AppendAllText(path, line + "\n");
    }

    /// <summary>Per MoE layer: the busiest expert's share of the routed tokens over the mean share (1.00 = perfectly even).</summary>
    private static string LoadSummary(MimoNetwork network, long[][] loadSums)
    {
        if (network.MoeLayers.Count == 0) return "";
        var parts = new List<string>();
        for (int i = 0; i < network.MoeLayers.Count; i++)
        {
            double mean = loadSums[i].Average();
            parts.Add(mean > 0 ? (loadSums[i].Max() / mean).ToString("F2", CultureInfo.InvariantCulture) : "-");
        }
        return "max/mean expert load " + string.Join(" ", parts);
    }

    private static void EnsureWritable(string directory)
    {
        try
        {
            Directory.CreateDirectory(directory);
            string probe = Path.Combine(directory, $".write-test-{Environment.ProcessId}");
            File.WriteAllText(probe, "");
            File.Delete(probe);
        }
        catch (Exception e) when (e is UnauthorizedAccessException or IOException)
        {
            throw new IOException($"output folder {directory} is not writable: {e.Message}", e);
        }
    }

    public static long Parameters(MimoNetwork network) => network.parameters().Sum(p => p.numel());

    private static string Sha256(string path) => Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(path)));

    /// <summary>Averages over the steps since the last log line.</summary>
    private sealed class Window
    {
        private double _loss, _main, _seconds;
        private double[]? _mtp;
        private long _tokens;
        private int _n;

        public void Add(double loss, double main, double[] mtp, long tokens, double seconds)
        {
            _loss += loss;
            _main += main;
            _mtp ??= new double[mtp.Length];
            for (int k = 0; k < mtp.Length; k++) _mtp[k] += mtp[k];
            _tokens += tokens;
            _seconds += seconds;
            _n++;
        }

        public double TokensPerSecond => _seconds > 0 ? _tokens / _seconds : 0;

        public TrainPoint Point(long step, double lr, double gradNorm) =>
            new(step, _loss / _n, _main / _n, (_mtp ?? []).Select(m => m / _n).ToArray(), lr, gradNorm);
    }
}

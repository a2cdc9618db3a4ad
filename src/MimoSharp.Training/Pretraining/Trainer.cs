using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using MimoSharp.Checkpoints;
using MimoSharp.Config;
using MimoSharp.Training.Checkpoints;
using MimoSharp.Training.Compat;
using MimoSharp.Training.Data;
using MimoSharp.Training.Model;
using MimoSharp.Training.Optim;
using MimoSharp.Training.Runs;
using static TorchSharp.torch;

namespace MimoSharp.Training.Pretraining;

/// <summary>What a <see cref="Trainer.Run"/> call ended with.</summary>
public sealed record TrainResult(long Step, bool Finished, double LastLoss, EvalResult? LastEval, double TokensPerSecond);

/// <summary>
/// Pre-training with the MTP objective, nanoGPT-style: data → forward → loss → backward → clip → AdamW step →
/// balance routers → log → evaluate → checkpoint. Deterministic for a seed and thread count; a checkpoint holds the
/// master weights, AdamW moments, router biases and data position, so a resumed run continues the same trajectory.
/// </summary>
public sealed class Trainer(TrainOptions options, TextWriter log, IProgress<TrainProgress>? progress = null)
{
    private readonly TrainOptions _o = options;

    public TrainResult Run(CancellationToken cancel = default)
    {
        _o.Validate();
        LibTorchCompat.EnsureInitialized();
        NativeHeap.RetainFreedMemory();   // a step's gigabytes of tensors reused, not re-faulted from the kernel
        set_num_threads(Math.Max(1, _o.Threads));

        var meta = CorpusMeta.Load(_o.DataDirectory);
        string corpusTokenizer = Path.Combine(_o.DataDirectory, NetworkCheckpoint.TokenizerFileName);
        using var run = TrainingRun<TrainState>.Open(_o.OutputDirectory, _o.Resume);
        using var network = run.Saved is not null ? NetworkCheckpoint.Load(_o.OutputDirectory) : CreateNetwork(meta);
        if (run.Saved is not null && _o.RopeTheta is double theta && theta != network.Config.Global.RopeTheta)
            throw new InvalidOperationException(
                $"--rope-theta {theta} differs from the rope_theta {network.Config.Global.RopeTheta} of the run saved in {_o.OutputDirectory}");
        if (network.Config.VocabSize != meta.VocabSize)
            throw new InvalidOperationException(
                $"the model's vocab_size is {network.Config.VocabSize} but the corpus {_o.DataDirectory} was packed with a tokenizer of {meta.VocabSize} ids");
        var state = run.Start(_o.Settings(network.Config, meta), settings => new TrainState { Settings = settings });
        var optimizer = new AdamW(network.named_parameters().Select(p => (p.name, p.parameter))) { WeightDecay = _o.WeightDecay };
        if (run.Saved is not null) run.LoadOptimizer(network, optimizer, state, optimizerStep: state.Step);

        var train = TokenDataset.Load(_o.DataDirectory, meta, heldout: false, _o.ContextLength, _o.Seed);
        var heldout = TokenDataset.Load(_o.DataDirectory, meta, heldout: true, _o.ContextLength, _o.Seed);
        // Evenly spaced over the held-out split, so every source is represented (the split is stored source by source).
        int evalCount = (int)Math.Min(_o.EvalWindows, heldout.WindowCount);
        var evalWindows = Enumerable.Range(0, evalCount)
            .Select(i => heldout.Window(i * heldout.WindowCount / evalCount).ToArray()).ToList();
        var schedule = new LearningRateSchedule(_o.LearningRate, _o.WarmupSteps, _o.Steps, _o.MinLearningRateFraction, _o.DecayFraction);
        log.WriteLine(
            $"train: {network.ParameterCount:N0} parameters, {network.Layers.Count} layers + {network.MtpLayers.Count} MTP, vocab {meta.VocabSize}; " +
            $"corpus {meta.TrainTokens:N0} train / {meta.HeldoutTokens:N0} held-out tokens; {_o.BatchSize}×{_o.ContextLength} tokens per step; " +
            (run.Saved is not null ? $"resuming at step {state.Step}" : "from " + (_o.InitFrom ?? "scratch")));

        state.TrainingFlopsPerToken = TrainingFlops.TrainingPerToken(network.Config, network.MtpLayers.Count, _o.ContextLength);
        state.MatmulPeakFlops = TrainingFlops.MeasurePeak(_o.Bf16 ? ScalarType.BFloat16 : ScalarType.Float32);
        log.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"train: {state.TrainingFlopsPerToken / 1e6:F1} MFLOP per trained token; measured {(_o.Bf16 ? "bf16" : "f32")} matmul peak " +
            $"{state.MatmulPeakFlops / 1e9:F1} GFLOP/s at {_o.Threads} threads"));
        var batch = new long[_o.BatchSize * _o.ContextLength];
        var expertLoad = new ExpertLoad(network);
        var window = new Window();
        var runClock = Stopwatch.StartNew();
        int stepsThisRun = 0;
        EvalResult? lastEval = null;
        double lastLoss = double.NaN;
        TrainProgress Progress(double loss, double[] mtp) => new(state.Step, _o.Steps, runClock.Elapsed, stepsThisRun, loss, mtp,
            window.TokensPerSecond, state.TrainingFlopsPerToken, state.MatmulPeakFlops);
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
            // Auxiliary-loss-free balancing: each router's bias follows the load of the step just taken.
            if (_o.BalanceGamma > 0)
                foreach (var (_, moe) in network.MoeLayers) moe.Gate.BalanceStep(moe.LastLoad, _o.BalanceGamma);
            expertLoad.Add();
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
                string loads = expertLoad.Summary();
                run.AppendMetrics(MetricsLine(point, expertLoad.Shares()));
                expertLoad.Clear();
                progress?.Report(Progress(point.Loss, point.MtpLoss) with { Logged = point, ExpertLoad = loads });
                window = new Window();
            }
            else
            {
                progress?.Report(Progress(loss, mtpLoss));
            }
            if (_o.EvalEvery > 0 && (state.Step % _o.EvalEvery == 0 || last)) lastEval = Evaluate(network, evalWindows, state);
            if (_o.SaveEvery > 0 && state.Step % _o.SaveEvery == 0 && !last) Save(run, network, optimizer, state, corpusTokenizer);
        }
        progress?.Report(Progress(lastLoss, []) with { Stopped = true });
        if (stepsThisRun > 0 || run.Saved is null) Save(run, network, optimizer, state, corpusTokenizer);
        double tps = state.TrainSeconds > 0 ? state.TokensSeen / state.TrainSeconds : 0;
        log.WriteLine($"train: stopped at step {state.Step}/{_o.Steps}; checkpoint {_o.OutputDirectory}");
        return new TrainResult(state.Step, state.Step >= _o.Steps, lastLoss, lastEval, tps);
    }

    private EvalResult Evaluate(MimoNetwork network, List<int[]> windows, TrainState state)
    {
        EvalResult result;
        using (ComputePrecision.Use(ScalarType.Float32)) result = Evaluator.Evaluate(network, windows);
        state.EvalHistory.Add(new EvalPoint(state.Step, result.Loss, result.Perplexity, result.MtpLoss, result.MtpAccuracy));
        log.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"eval step {state.Step}: held-out loss {result.Loss:F4}, perplexity {result.Perplexity:F2}, MTP top-1 accuracy " +
            $"[{string.Join(", ", result.MtpAccuracy.Select(a => a.ToString("F3", CultureInfo.InvariantCulture)))}] over {result.Tokens:N0} tokens"));
        return result;
    }

    private MimoNetwork CreateNetwork(CorpusMeta meta)
    {
        if (_o.InitFrom is not null)
        {
            string tokenizer = Path.Combine(_o.InitFrom, NetworkCheckpoint.TokenizerFileName);
            if (File.Exists(tokenizer) && Fingerprint.OfFile(tokenizer) != meta.TokenizerSha256)
                throw new InvalidOperationException(
                    $"{tokenizer} differs from the tokenizer the corpus {_o.DataDirectory} was packed with; re-pack the corpus with it");
            log.WriteLine($"train: initialising from {_o.InitFrom}");
            return NetworkCheckpoint.Load(_o.InitFrom, Extend);
        }
        var config = Extend(MimoConfig.Load(_o.ConfigPath!));
        manual_seed((long)(_o.Seed & long.MaxValue));
        var network = new MimoNetwork(config, _o.MtpLayers);
        double std = config.Raw?["initializer_range"] is System.Text.Json.Nodes.JsonValue v && v.TryGetValue(out double r) ? r : 0.02;
        network.InitializeWeights(std);
        return network;
    }

    /// <summary>The config this run trains and saves: the global RoPE base of --rope-theta, room for --context positions.</summary>
    private MimoConfig Extend(MimoConfig config)
    {
        var extended = ContextExtension.Apply(config, _o.RopeTheta, _o.ContextLength);
        if (!ReferenceEquals(extended, config))
            log.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"train: context extension: global rope_theta {config.Global.RopeTheta:G} → {extended.Global.RopeTheta:G} " +
                $"(SWA keeps {extended.Swa.RopeTheta:G}), max_position_embeddings {config.MaxPositionEmbeddings} → {extended.MaxPositionEmbeddings}"));
        return extended;
    }

    private void Save(TrainingRun<TrainState> run, MimoNetwork network, AdamW optimizer, TrainState state, string tokenizer) =>
        run.Save(network, optimizer, state, _o.SaveDType, File.Exists(tokenizer) ? tokenizer : null, "mimo_train_step",
            [("loss.svg", Curve(state, network.MtpLayers.Count))]);

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

    /// <summary>One line of training/metrics.jsonl.</summary>
    private static string MetricsLine(TrainPoint point, Dictionary<string, double[]> expertLoad) => JsonSerializer.Serialize(new
    {
        step = point.Step,
        loss = point.Loss,
        main_loss = point.MainLoss,
        mtp_loss = point.MtpLoss,
        lr = point.LearningRate,
        grad_norm = point.GradNorm,
        tokens_per_second = point.TokensPerSecond,
        mfu = point.Mfu,
        expert_load = expertLoad,
    });

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

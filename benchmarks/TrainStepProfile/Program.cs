// Where a training step's time goes: the default model's step (MTP objective, bf16 matmuls, 2 threads) timed whole
// and part by part (forward + backward of each), with each part's model FLOPs and achieved share of the measured
// matmul peak. Parts are timed alone, so their sum differs from the step by what runs between them.
//   dotnet run --project benchmarks/TrainStepProfile -c Release -- [--config F] [--batch 8] [--context 1024] [--f32] [--repeat 3]
// With --steps N it only runs N whole steps back to back, as the trainer does, and prints each one's time and the
// minor page faults it took (a steady-state step should take none: freed tensor memory is reused).
using System.Diagnostics;
using System.Globalization;
using MimoSharp.Config;
using MimoSharp.Training.Compat;
using MimoSharp.Training.Model;
using MimoSharp.Training.Optim;
using MimoSharp.Training.Pretraining;
using static TorchSharp.torch;

string Arg(string name, string fallback) => args.SkipWhile(a => a != name).Skip(1).FirstOrDefault() ?? fallback;
// The repository's default config: found above the working folder or above this program's build folder.
string? RepoRoot(string? dir) => dir is null ? null : File.Exists(Path.Combine(dir, "MimoSharp.slnx")) ? dir : RepoRoot(Path.GetDirectoryName(dir));
string? root = RepoRoot(Directory.GetCurrentDirectory()) ?? RepoRoot(AppContext.BaseDirectory);
string defaultConfig = root is null ? "" : Path.Combine(root, "data", "default-model-config.json");
var config = MimoConfig.Load(Arg("--config", defaultConfig));
int batch = int.Parse(Arg("--batch", "8"), CultureInfo.InvariantCulture);
int context = int.Parse(Arg("--context", "1024"), CultureInfo.InvariantCulture);
int repeat = int.Parse(Arg("--repeat", "3"), CultureInfo.InvariantCulture);
int threads = int.Parse(Arg("--threads", "2"), CultureInfo.InvariantCulture);
var dtype = args.Contains("--f32") ? ScalarType.Float32 : ScalarType.BFloat16;

LibTorchCompat.EnsureInitialized();
NativeHeap.RetainFreedMemory();   // as the trainer does
set_num_threads(threads);
manual_seed(1);
using var network = new MimoNetwork(config, mtpLayers: 3);
network.InitializeWeights(0.02);   // initializer_range of the default config
var optimizer = new AdamW(network.named_parameters().Select(p => (p.name, p.parameter)));
double peak = TrainingFlops.MeasurePeak(dtype);
using var precision = ComputePrecision.Use(dtype);
var tokens = randint(0, config.VocabSize, [batch, context], dtype: ScalarType.Int64);
long n = (long)batch * context;
Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
    $"train-step profile: {batch}×{context} tokens, {dtype}, {threads} threads; measured matmul peak {peak / 1e9:F1} GFLOP/s"));

if (int.Parse(Arg("--steps", "0"), CultureInfo.InvariantCulture) is int steps and > 0)
{
    var times = new List<double>();
    for (int i = 0; i < steps; i++)
    {
        long faults = MinorFaults();
        var clock = Stopwatch.StartNew();
        using (var scope = NewDisposeScope())
        {
            using var losses = MtpObjective.Compute(network, tokens, 0.3);
            optimizer.ZeroGrad();
            losses.Total.backward();
            optimizer.ClipGradNorm(1.0);
            optimizer.Update(1e-4);
        }
        times.Add(clock.Elapsed.TotalSeconds);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"step {i + 1}: {times[^1] * 1e3:F0} ms, {n / times[^1]:F0} tokens/s, {MinorFaults() - faults} minor page faults"));
    }
    double median = times.Skip(1).Order().ElementAt((times.Count - 1) / 2);   // the first step warms up
    Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
        $"median of steps 2..{steps}: {median * 1e3:F0} ms, {n / median:F0} tokens/s, MFU {3 * TrainingFlops.ForwardPerToken(config, 3, context) * n / median / peak:P1}"));
    return;
}

// Minor page faults of this process so far (field 10 of /proc/self/stat, after the parenthesised command name).
static long MinorFaults()
{
    string stat = File.ReadAllText("/proc/self/stat");
    return long.Parse(stat[(stat.LastIndexOf(')') + 2)..].Split(' ')[7], CultureInfo.InvariantCulture);
}

// Forward + backward of f(x) for a fresh input that needs a gradient (as in the step, where every part's input does).
double Time(Func<Tensor> body, bool step = false)
{
    var best = double.MaxValue;
    for (int r = 0; r < repeat + 1; r++)   // the first run warms up
    {
        using var scope = NewDisposeScope();
        optimizer.ZeroGrad();
        var clock = Stopwatch.StartNew();
        var loss = body();
        loss.backward();
        if (step)
        {
            optimizer.ClipGradNorm(1.0);
            optimizer.Update(1e-4);
        }
        double s = clock.Elapsed.TotalSeconds;
        if (r > 0) best = Math.Min(best, s);
    }
    return best;
}

Tensor Input() => (randn(batch, context, config.HiddenSize) * 0.5).requires_grad_(true);
var rows = new List<(string Part, double Seconds, double Flops)>();
void Add(string part, double seconds, double forwardFlopsPerToken) => rows.Add((part, seconds, 3 * forwardFlopsPerToken * n));

double stepFlops = TrainingFlops.ForwardPerToken(config, 3, context);
Add("whole step (forward, backward, clip, AdamW)", Time(() => MtpObjective.Compute(network, tokens, 0.3).Total, step: true), stepFlops);
double mainFlops = Enumerable.Range(0, config.NumHiddenLayers).Sum(i => TrainingFlops.LayerAttention(config, i, context) + TrainingFlops.FeedForward(config, i));
Add($"main model hidden states ({config.NumHiddenLayers} layers)", Time(() => network.Hidden(tokens).square().mean()), mainFlops);
foreach (var layer in network.Layers.Where((l, i) => i <= 1 || i == network.Layers.Count - 1))
{
    string kind = $"layer {layer.Index} ({(layer.IsSlidingWindow ? "SWA" : "global")}, {(layer.Moe is null ? "dense" : "MoE")})";
    var x = Input();
    double attention = TrainingFlops.LayerAttention(config, layer.Index, context);
    Add(kind + ": attention", Time(() => layer.AttentionResidual(x).square().mean()), attention);
    var y = Input();
    Add(kind + ": whole layer", Time(() => layer.forward(y).square().mean()), attention + TrainingFlops.FeedForward(config, layer.Index));
}
var hidden = Input();
var targets = randint(0, config.VocabSize, [batch, context], dtype: ScalarType.Int64);
Add("lm_head + cross-entropy (one of four)", Time(() => MtpObjective.CrossEntropy(network.Logits(hidden), targets)), TrainingFlops.LmHead(config));
var mainHidden = Input();
Add("MTP depth 0 without its lm_head", Time(() => network.MtpLayers[0].forward(network.Embed(tokens), mainHidden).square().mean()), TrainingFlops.MtpLayer(config, context));
{
    using var scope = NewDisposeScope();
    MtpObjective.Compute(network, tokens, 0.3).Total.backward();
    var clock = Stopwatch.StartNew();
    for (int r = 0; r < repeat; r++)
    {
        optimizer.ClipGradNorm(1.0);
        optimizer.Update(1e-4);
    }
    rows.Add(("clip + AdamW update", clock.Elapsed.TotalSeconds / repeat, 0));
}

Console.WriteLine($"{"part",-46} {"ms",9} {"GFLOP",8} {"GFLOP/s",8} {"of peak",8}");
foreach (var (part, seconds, flops) in rows)
    Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
        $"{part,-46} {seconds * 1e3,9:F1} {flops / 1e9,8:F2} {flops / seconds / 1e9,8:F1} {flops / seconds / peak,8:P0}"));
Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
    $"step: {n / rows[0].Seconds:F0} tokens/s, MFU {rows[0].Flops / rows[0].Seconds / peak:P1}"));


using System.Diagnostics;
using MimoSharp.Training.Checkpoints;
using MimoSharp.Training.Distillation;
using MimoSharp.Training.Tests.Distillation;
using MimoSharp.Training.Tests.Support;
using MimoSharp.Training.Pretraining;
using TrainerRun = MimoSharp.Training.Pretraining.Trainer;

namespace MimoSharp.Training.Tests.Pretraining;

/// <summary>
/// `mimo train` and `mimo distill` killed with SIGKILL at random moments — half of the kills the instant a checkpoint
/// file starts being written, half at a random moment of a step, a save every step — and resumed each time: the
/// last complete checkpoint always loads, and the finished run is bit-identical to one never interrupted (model
/// file, master weights and Adam moments, loss history).
/// </summary>
public partial class CrashResumeTests
{
    private const int Kills = 8;

    [Fact]
    public async Task ATrainingRunKilledAtRandomPointsResumesBitIdentically()
    {
        using var run = new TinyRun();
        const int steps = 48;
        string[] Args(string output, bool resume) =>
        [
            "train", "--data", run.Corpus, "--out", output, "--steps", steps.ToString(), "--batch-size", "2", "--context", "32",
            "--save-every", "1", "--eval-every", "0", "--log-every", "1", "--threads", "1", "--lr", "3e-3", "--warmup", "4", "--seed", "5",
            .. resume ? new[] { "--resume" } : ["--config", run.ConfigPath, "--mtp-layers", "2"],
        ];
        static (long Step, string? Optimizer)? State(string dir) => TrainState.TryLoad(dir) is { } s ? (s.Step, s.OptimizerFile) : null;

        string reference = run.Out("reference"), killed = run.Out("killed");
        await RunToEnd(Args(reference, resume: false));
        var (kills, inWrites, starts) = await RunWithKills(resume => Args(killed, resume), killed, State);

        var a = TrainState.TryLoad(reference)!;
        var b = TrainState.TryLoad(killed)!;
        Assert.Equal(steps, b.Step);
        Assert.Equal(a.DataPosition, b.DataPosition);
        Assert.Equal(a.History.Select(h => (h.Step, h.Loss, h.MainLoss)), b.History.Select(h => (h.Step, h.Loss, h.MainLoss)));
        AssertSameCheckpoint(reference, a.OptimizerFile!, killed, b.OptimizerFile!);
        Console.WriteLine($"crash-resume train: {kills} kills ({inWrites} inside a checkpoint write), {starts} starts");
    }

    [Fact]
    public async Task ADistillationRunKilledAtRandomPointsResumesBitIdentically()
    {
        using var w = new MopdWorkspace();
        const int steps = 12;
        string[] Args(string output, bool resume) =>
        [
            "distill", "--student", w.Student, "--teacher", $"rhymes={w.Teacher}", "--prompts", $"rhymes={w.TrainPrompts}", "--out", output,
            "--steps", steps.ToString(), "--prompts-per-step", "4", "--save-every", "1", "--eval-every", "0", "--threads", "1", "--seed", "3",
            .. resume ? new[] { "--resume" } : [],
        ];
        static (long Step, string? Optimizer)? State(string dir) => DistillState.TryLoad(dir) is { } s ? (s.Step, s.OptimizerFile) : null;

        string reference = w.Run.Out("reference"), killed = w.Run.Out("killed");
        await RunToEnd(Args(reference, resume: false));
        var (kills, inWrites, starts) = await RunWithKills(resume => Args(killed, resume), killed, State);

        var a = DistillState.TryLoad(reference)!;
        var b = DistillState.TryLoad(killed)!;
        Assert.Equal(steps, b.Step);
        Assert.Equal(a.History.Select(h => (h.Step, h.PolicyLoss, h.MtpLoss)), b.History.Select(h => (h.Step, h.PolicyLoss, h.MtpLoss)));
        AssertSameCheckpoint(reference, a.OptimizerFile!, killed, b.OptimizerFile!);
        Console.WriteLine($"crash-resume distill: {kills} kills ({inWrites} inside a checkpoint write), {starts} starts");
    }

    [Fact]
    public void ASaveCutBetweenItsFilesResumesFromTheLastCommittedState()
    {
        using var run = new TinyRun();
        string reference = run.Out("reference"), cut = run.Out("cut"), other = run.Out("other");
        new TrainerRun(run.Options(reference, steps: 6) with { SaveEvery = 3, EvalEvery = 0 }, TextWriter.Null).Run();
        new TrainerRun(run.Options(cut, steps: 6) with { SaveEvery = 3, EvalEvery = 0, MaxStepsThisRun = 3 }, TextWriter.Null).Run();
        new TrainerRun(run.Options(other, steps: 2) with { EvalEvery = 0, Seed = 9 }, TextWriter.Null).Run();

        // What a kill inside the next save leaves: the model file already replaced (by other weights here), the next
        // optimizer file written but not committed, a temporary file, and a metrics line cut in half.
        string training = Path.Combine(cut, TrainState.Folder);
        File.Copy(Path.Combine(other, "model.safetensors"), Path.Combine(cut, "model.safetensors"), overwrite: true);
        File.WriteAllBytes(Path.Combine(training, OptimizerCheckpoint.FileFor(4)), [1, 2, 3]);
        File.WriteAllBytes(Path.Combine(training, ".state.json.tmp-1"), [4, 5]);
        File.AppendAllText(Path.Combine(training, "metrics.jsonl"), "{\"step\": 4, \"loss\": 1.");

        new TrainerRun(run.Options(cut, steps: 6) with { SaveEvery = 3, EvalEvery = 0, Resume = true }, TextWriter.Null).Run();

        var a = TrainState.TryLoad(reference)!;
        var b = TrainState.TryLoad(cut)!;
        AssertSameCheckpoint(reference, a.OptimizerFile!, cut, b.OptimizerFile!);
        Assert.Equal(File.ReadAllLines(Path.Combine(reference, TrainState.Folder, "metrics.jsonl")).Length,
                     File.ReadAllLines(Path.Combine(training, "metrics.jsonl")).Length);
    }

    [Fact]
    public void AStateFileNamingAnOptimizerFileOfAnotherStepIsRefused()
    {
        using var run = new TinyRun();
        string dir = run.Out("run");
        string training = Path.Combine(dir, TrainState.Folder);
        new TrainerRun(run.Options(dir, steps: 6) with { SaveEvery = 2, EvalEvery = 0, MaxStepsThisRun = 2 }, TextWriter.Null).Run();
        byte[] stepTwo = File.ReadAllBytes(Path.Combine(training, OptimizerCheckpoint.FileFor(2)));
        new TrainerRun(run.Options(dir, steps: 6) with { SaveEvery = 2, EvalEvery = 0, MaxStepsThisRun = 2, Resume = true }, TextWriter.Null).Run();
        var state = TrainState.TryLoad(dir)!;
        Assert.Equal(OptimizerCheckpoint.FileFor(4), state.OptimizerFile);
        File.WriteAllBytes(Path.Combine(training, state.OptimizerFile!), stepTwo);   // weights and moments of another step

        var e = Assert.Throws<InvalidOperationException>(() =>
            new TrainerRun(run.Options(dir, steps: 6) with { EvalEvery = 0, Resume = true }, TextWriter.Null).Run());
        Assert.Contains("optimizer step 2", e.Message);
        Assert.Contains("step 4", e.Message);
    }

    [Fact]
    public void ASecondProcessTrainingIntoALiveRunFolderIsRefusedAndTouchesNothing()
    {
        using var run = new TinyRun();
        string dir = run.Out("live");
        using (RunLock.Acquire(dir))   // what a running `mimo train` holds
        {
            string stray = Path.Combine(dir, ".model.safetensors.tmp-999");
            File.WriteAllBytes(stray, [1]);
            var e = Assert.Throws<InvalidOperationException>(() =>
                new TrainerRun(run.Options(dir, steps: 2) with { EvalEvery = 0 }, TextWriter.Null).Run());
            Assert.Contains("in use by another", e.Message);
            Assert.True(File.Exists(stray), "the refused run deleted the live run's temporary file");
        }
        // Once the holder is gone, the folder can be trained into.
        new TrainerRun(run.Options(dir, steps: 2) with { EvalEvery = 0 }, TextWriter.Null).Run();
        Assert.Equal(2, TrainState.TryLoad(dir)!.Step);
    }

    [Fact]
    public void ANewRunForgetsTheMetricsOfAStartKilledBeforeItsFirstSave()
    {
        using var run = new TinyRun();
        string dir = run.Out("restart");
        string training = Path.Combine(dir, TrainState.Folder);
        Directory.CreateDirectory(training);
        File.WriteAllText(Path.Combine(training, "metrics.jsonl"), "{\"step\": 1, \"loss\": 9.9, \"stale_marker\": 1}\n{\"step\": 2, \"lo");
        File.WriteAllBytes(Path.Combine(training, OptimizerCheckpoint.FileFor(3)), [1, 2, 3]);

        new TrainerRun(run.Options(dir, steps: 2) with { EvalEvery = 0, LogEvery = 1 }, TextWriter.Null).Run();

        var lines = File.ReadAllLines(Path.Combine(training, "metrics.jsonl"));
        Assert.Equal(2, lines.Length);
        // A marker no real metrics line has ("9.9" alone could turn up in a timing field by chance).
        Assert.DoesNotContain(lines, l => l.Contains("stale_marker"));
        Assert.Equal([OptimizerCheckpoint.FileFor(2)], Directory.GetFiles(training, "optimizer*").Select(Path.GetFileName));
    }

    private static void AssertSameCheckpoint(string reference, string referenceOptimizer, string killed, string killedOptimizer)
    {
        Assert.Equal(File.ReadAllBytes(Path.Combine(reference, "model.safetensors")), File.ReadAllBytes(Path.Combine(killed, "model.safetensors")));
        Assert.Equal(File.ReadAllBytes(Path.Combine(reference, TrainState.Folder, referenceOptimizer)),
                     File.ReadAllBytes(Path.Combine(killed, TrainState.Folder, killedOptimizer)));
        // After the finished run nothing is left over: one optimizer file, no temporary files.
        Assert.Single(Directory.GetFiles(Path.Combine(killed, TrainState.Folder), "optimizer*"));
        Assert.Empty(Leftovers(killed));
    }

    /// <summary>Starts the run again and again, killing it <see cref="Kills"/> times, then lets it finish.</summary>
    private static async Task<(int Kills, int InWrites, int Starts)> RunWithKills(
        Func<bool, string[]> args, string folder, Func<string, (long Step, string? Optimizer)?> state)
    {
        var rng = new Random(20261204);
        int kills = 0, inWrites = 0, starts = 0;
        while (true)
        {
            using var p = Mimo(args(state(folder) is not null));
            starts++;
            // Kill only once the run is under way (its progress lines start).
            var underway = new TaskCompletionSource();
            var log = new System.Text.StringBuilder();
            p.ErrorDataReceived += (_, e) =>
            {
                lock (log) log.AppendLine(e.Data);
                if (e.Data is { } line && ProgressLine().IsMatch(line)) underway.TrySetResult();
            };
            p.EnableRaisingEvents = true;
            p.Exited += (_, _) => underway.TrySetResult();
            p.BeginErrorReadLine();
            await Task.WhenAny(underway.Task, Task.Delay(TimeSpan.FromSeconds(60)));
            if (kills < Kills && !p.HasExited)
            {
                // Even kills: the instant a checkpoint file starts being written (its temporary name appears).
                // Odd kills: a random moment, mostly inside a step. Every step saves, so a write normally shows at
                // once; if none is seen within 5 s the kill lands wherever the run is. (With a 20 s wait the 12-step
                // distillation run once finished unkilled, no write seen; why the watcher saw none is not pinned down.)
                if (kills % 2 == 0) await WriteStarted(folder, TimeSpan.FromSeconds(5));
                else await Task.Delay(rng.Next(0, 200));
                if (!p.HasExited)
                {
                    p.Kill();
                    await p.WaitForExitAsync();
                    kills++;
                    if (Leftovers(folder).Length > 0) inWrites++;
                    // Whatever the moment, the folder holds a complete checkpoint that loads (or, killed before the
                    // first save completed, none: the next start begins again).
                    if (state(folder) is { } saved)
                    {
                        Assert.True(File.Exists(Path.Combine(folder, TrainState.Folder, saved.Optimizer!)), $"{saved.Optimizer} is missing after kill {kills}");
                        using (NetworkCheckpoint.Load(folder)) { }
                    }
                    continue;
                }
            }
            using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(3));
            await p.WaitForExitAsync(timeout.Token);
            lock (log) Assert.True(p.ExitCode == 0, $"start {starts} after {kills} kills: exit {p.ExitCode}\n{log}");
            break;
        }
        Assert.True(kills >= Kills / 2, $"only {kills} kills landed before the run finished ({starts} starts)");
        Assert.True(inWrites >= 1, $"none of the {kills} kills landed inside a checkpoint write");
        return (kills, inWrites, starts);
    }

    private static async Task RunToEnd(string[] args)
    {
        using var p = Mimo(args);
        string log = await p.StandardError.ReadToEndAsync();
        await p.WaitForExitAsync();
        Assert.True(p.ExitCode == 0, log);
    }

    /// <summary>Completes when a temporary checkpoint file is created in the run folder (or after <paramref name="limit"/>).</summary>
    private static async Task WriteStarted(string dir, TimeSpan limit)
    {
        var created = new TaskCompletionSource();
        using var watcher = new FileSystemWatcher(dir) { IncludeSubdirectories = true, NotifyFilter = NotifyFilters.FileName };
        watcher.Created += (_, e) => { if (e.Name?.Contains(".tmp-") == true) created.TrySetResult(); };
        watcher.EnableRaisingEvents = true;
        await Task.WhenAny(created.Task, Task.Delay(limit));
    }

    /// <summary>Temporary files of a write a kill interrupted.</summary>
    private static string[] Leftovers(string dir) =>
        Directory.Exists(dir) ? Directory.GetFiles(dir, "*.tmp-*", SearchOption.AllDirectories) : [];

    /// <summary>A progress line "[###---] step N/M": training steps are running (not start-up, not the resume notice).</summary>
    [System.Text.RegularExpressions.GeneratedRegex(@"\] step \d+/\d+")]
    private static partial System.Text.RegularExpressions.Regex ProgressLine();

    private static Process Mimo(string[] args)
    {
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "mimo.dll"));
        foreach (var a in args) psi.ArgumentList.Add(a);
        return Process.Start(psi)!;
    }
}

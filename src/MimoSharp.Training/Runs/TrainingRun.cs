using System.Globalization;
using System.Text.Json;
using MimoSharp.Training.Checkpoints;
using MimoSharp.Training.Model;
using MimoSharp.Training.Optim;

namespace MimoSharp.Training.Runs;

/// <summary>The layout of a run folder, shared by pre-training and distillation.</summary>
public static class TrainingRun
{
    /// <summary>The run's own files (state, optimizer, metrics, lock) live in this subfolder of the checkpoint.</summary>
    public const string FolderName = "training";

    /// <summary>One JSON object per logged step, appended as the run goes (training/metrics.jsonl).</summary>
    public const string MetricsFileName = "metrics.jsonl";
}

/// <summary>
/// One run folder, held for the life of a <c>mimo train</c> or <c>mimo distill</c> invocation: the model files the
/// engine loads, and training/ with the state file, the optimizer file and the metrics.
/// <para>
/// Resume policy: a folder that holds a run is continued only with --resume, and --resume needs a run to continue;
/// the settings that shape the trajectory must match the saved ones. Crash safety: each save writes the model and a
/// new optimizer file named by its step, then the state file — the commit point — then prunes older optimizer files.
/// A kill at any moment leaves the previous state naming a complete optimizer file; the next start removes what the
/// killed one left half-written.
/// </para>
/// </summary>
public sealed class TrainingRun<TState> : IDisposable where TState : class, IRunState
{
    private readonly IDisposable _lock;

    /// <summary>The run folder (--out).</summary>
    public string Directory { get; }

    /// <summary>training/ inside the run folder.</summary>
    public string Folder => Path.Combine(Directory, TrainingRun.FolderName);

    /// <summary>The state the folder held when the run was opened with --resume; null for a new run.</summary>
    public TState? Saved { get; }

    private string MetricsPath => Path.Combine(Folder, TrainingRun.MetricsFileName);

    private TrainingRun(string directory, IDisposable runLock, TState? saved)
    {
        Directory = directory;
        _lock = runLock;
        Saved = saved;
    }

    /// <summary>
    /// Takes the folder for this process (<see cref="RunLock"/>), applies the resume policy and clears what a killed
    /// process left behind: half-written temporaries and, for a new run, the files of a start killed before its first save.
    /// </summary>
    public static TrainingRun<TState> Open(string directory, bool resume)
    {
        var kind = TState.Kind;
        EnsureWritable(directory);
        var runLock = RunLock.Acquire(directory);
        try
        {
            var saved = RunStateFile.TryLoad<TState>(directory);
            if (saved is not null && !resume)
                throw new InvalidOperationException(
                    $"{directory} already holds a {kind.Noun} run (step {saved.Step}); pass --resume to continue it or choose another --out folder");
            if (saved is null && resume)
                throw new InvalidOperationException($"--resume: {directory} holds no {kind.Noun} run ({RunStateFile.PathIn<TState>(directory)} is missing)");
            NetworkCheckpoint.RemoveStaleTemporaries(directory);
            var run = new TrainingRun<TState>(directory, runLock, saved);
            if (saved is null) run.ForgetUncommittedStart();
            return run;
        }
        catch
        {
            runLock.Dispose();
            throw;
        }
    }

    /// <summary>
    /// The state to continue: the saved one when its settings equal <paramref name="settings"/> (a difference is
    /// refused by name), or <paramref name="fresh"/>'s for a new run.
    /// </summary>
    public TState Start(SortedDictionary<string, string> settings, Func<SortedDictionary<string, string>, TState> fresh)
    {
        if (Saved is null) return fresh(settings);
        foreach (var (key, value) in settings)
        {
            string? before = Saved.Settings.GetValueOrDefault(key);
            if (before != value)
                throw new InvalidOperationException(
                    $"cannot resume {Directory}: it was {TState.Kind.Verb} with {key} = {before ?? "(unset)"}, this run asks for {value}");
        }
        return Saved;
    }

    /// <summary>
    /// Restores master weights and AdamW moments from the state's optimizer file (saved at <paramref name="optimizerStep"/>),
    /// and drops history and metrics logged after the state's step.
    /// </summary>
    public void LoadOptimizer(MimoNetwork network, AdamW optimizer, TState state, long optimizerStep)
    {
        OptimizerCheckpoint.Load(network, optimizer, Path.Combine(Folder, state.OptimizerFile ?? OptimizerCheckpoint.LegacyFileName), Directory,
            expectedStep: state.OptimizerFile is null ? null : optimizerStep);
        optimizer.Step = optimizerStep;
        if (File.Exists(MetricsPath))
        {
            var keep = File.ReadAllLines(MetricsPath).Where(l => StepOf(l) is long step && step <= state.Step);
            NetworkCheckpoint.WriteAtomically(MetricsPath, string.Concat(keep.Select(l => l + "\n")));
        }
        state.ForgetAfter(state.Step);
    }

    /// <summary>
    /// A checkpoint: the model files (with <paramref name="stepKey"/> = the step in their metadata), the optimizer
    /// file of this step, the state file that commits them, then the curves.
    /// </summary>
    public void Save(MimoNetwork network, AdamW optimizer, TState state, WeightDType dtype, string? tokenizerPath, string stepKey,
        IEnumerable<(string File, string Svg)> curves)
    {
        var metadata = new Dictionary<string, string> { [stepKey] = state.Step.ToString(CultureInfo.InvariantCulture) };
        NetworkCheckpoint.Save(network, Directory, dtype, tokenizerPath, metadata);
        state.OptimizerFile = OptimizerCheckpoint.SaveStep(network, optimizer, Folder);
        RunStateFile.Save(Directory, state);   // the commit point: a kill before this resumes from the previous save
        OptimizerCheckpoint.Prune(Folder, state.OptimizerFile);
        foreach (var (file, svg) in curves) NetworkCheckpoint.WriteAtomically(Path.Combine(Directory, file), svg);
    }

    /// <summary>Appends one logged step to training/metrics.jsonl.</summary>
    public void AppendMetrics(string jsonLine)
    {
        System.IO.Directory.CreateDirectory(Folder);
        File.AppendAllText(MetricsPath, jsonLine + "\n");
    }

    public void Dispose() => _lock.Dispose();

    /// <summary>
    /// A new run in a folder where an earlier start was killed before its first save: its metrics and optimizer
    /// files belong to no committed state, and appending to them would mix two runs.
    /// </summary>
    private void ForgetUncommittedStart()
    {
        if (!System.IO.Directory.Exists(Folder)) return;
        File.Delete(MetricsPath);
        foreach (var file in System.IO.Directory.EnumerateFiles(Folder, "optimizer*.safetensors")) File.Delete(file);
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

    private static void EnsureWritable(string directory)
    {
        try
        {
            System.IO.Directory.CreateDirectory(directory);
            string probe = Path.Combine(directory, $".write-test-{Environment.ProcessId}");
            File.WriteAllText(probe, "");
            File.Delete(probe);
        }
        catch (Exception e) when (e is UnauthorizedAccessException or IOException)
        {
            throw new IOException($"output folder {directory} is not writable: {e.Message}", e);
        }
    }
}

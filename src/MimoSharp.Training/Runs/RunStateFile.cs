using System.Text.Json;
using System.Text.Json.Serialization;

namespace MimoSharp.Training.Runs;

/// <summary>
/// What a run folder holds: <paramref name="Noun"/> names it in messages ("training", "distillation"),
/// <paramref name="StateFileName"/> is its state file in training/, <paramref name="Verb"/> says how it was made
/// ("it was trained with …").
/// </summary>
public sealed record RunKind(string Noun, string StateFileName, string Verb);

/// <summary>The part of a run's state file that <see cref="TrainingRun{TState}"/> reads and writes.</summary>
public interface IRunState
{
    static abstract RunKind Kind { get; }

    /// <summary>Steps done; a resumed run continues after it.</summary>
    long Step { get; }

    /// <summary>The optimizer file (in training/) this state belongs to; null in runs saved before per-step files.</summary>
    string? OptimizerFile { get; set; }

    /// <summary>The settings that shape the run's trajectory (<see cref="Fingerprint"/>), checked on resume.</summary>
    SortedDictionary<string, string> Settings { get; }

    /// <summary>Drops what was logged after <paramref name="step"/>, so a resumed run follows its checkpoint's trajectory.</summary>
    void ForgetAfter(long step);
}

/// <summary>Reads and writes a run's JSON state file (training/state.json, training/distill-state.json).</summary>
public static class RunStateFile
{
    private static readonly JsonSerializerOptions Json = new() { WriteIndented = true, NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals };

    /// <summary>training/STATE-FILE of the run in <paramref name="runDirectory"/>.</summary>
    public static string PathIn<TState>(string runDirectory) where TState : IRunState =>
        Path.Combine(runDirectory, TrainingRun.FolderName, TState.Kind.StateFileName);

    /// <summary>The state of the run in <paramref name="runDirectory"/>, or null when there is none.</summary>
    public static TState? TryLoad<TState>(string runDirectory) where TState : class, IRunState
    {
        string path = PathIn<TState>(runDirectory);
        if (!File.Exists(path)) return null;
        try
        {
            return JsonSerializer.Deserialize<TState>(File.ReadAllText(path), Json) ?? throw new InvalidDataException($"{path} is empty");
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{path} is not a valid {TState.Kind.Noun} state: {e.Message}");
        }
    }

    /// <summary>Written to a temporary name and moved into place: the file is always a complete state.</summary>
    public static void Save<TState>(string runDirectory, TState state) where TState : IRunState
    {
        string path = PathIn<TState>(runDirectory);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        Checkpoints.NetworkCheckpoint.WriteAtomically(path, JsonSerializer.Serialize(state, Json) + "\n");
    }
}

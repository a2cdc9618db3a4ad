using System.Text.Json;
using System.Text.Json.Serialization;

namespace MimoSharp.Training.Trainer;

/// <summary>Reads and writes a run's JSON state file (training/state.json, training/distill-state.json).</summary>
public static class RunStateFile
{
    private static readonly JsonSerializerOptions Json = new() { WriteIndented = true, NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals };

    /// <summary>The state at <paramref name="path"/>, or null when there is none; <paramref name="what"/> names it in errors.</summary>
    public static T? TryLoad<T>(string path, string what) where T : class
    {
        if (!File.Exists(path)) return null;
        try
        {
            return JsonSerializer.Deserialize<T>(File.ReadAllText(path), Json) ?? throw new InvalidDataException($"{path} is empty");
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{path} is not a valid {what}: {e.Message}");
        }
    }

    /// <summary>Written to a temporary name and moved into place: the file is always a complete state.</summary>
    public static void Save<T>(string path, T state)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        Checkpoints.NetworkCheckpoint.WriteAtomically(path, JsonSerializer.Serialize(state, Json) + "\n");
    }
}

using System.CommandLine;
using System.Text.Json;
using MimoSharp.Checkpoints;
using MimoSharp.Config;

namespace MimoSharp.Cli.Commands;

/// <summary>Options and conventions every command shares: JSON alone on stdout, logs on stderr, clear errors.</summary>
internal static class Cli
{
    public static readonly JsonSerializerOptions Json = new() { WriteIndented = false };

    public static Option<string> ModelOption() => new("--model", "-m")
    {
        Description = "model folder (config.json + safetensors) or a mimo2 .gguf file; default: the repository's models/default",
    };

    public const string DefaultModelFolder = "models/default";

    /// <summary>The given folder, or models/default found from the working directory or above the executable.</summary>
    public static string ResolveModel(string? given)
    {
        if (!string.IsNullOrEmpty(given)) return given;
        foreach (var start in new[] { Directory.GetCurrentDirectory(), AppContext.BaseDirectory })
        {
            for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
            {
                string candidate = Path.Combine(dir.FullName, DefaultModelFolder);
                if (File.Exists(Path.Combine(candidate, "config.json"))) return candidate;
            }
        }
        throw new ArgumentException($"--model was not given and no {DefaultModelFolder} folder was found from {Directory.GetCurrentDirectory()}");
    }

    /// <summary>The model folder's tokenizer.json, if it has one.</summary>
    public static Text.Tokenizer? TryLoadTokenizer(string modelDir)
    {
        string path = Path.Combine(modelDir, "tokenizer.json");
        return File.Exists(path) ? Text.Tokenizer.FromFile(path) : null;
    }

    public static Option<string> QuantOption() => new("--quant")
    {
        Description = "quantise linear weights at load: q8_0, q4_k, or none to compute on the stored weights",
        DefaultValueFactory = _ => "none",
    };

    /// <summary>Loads a model folder with the --quant choice.</summary>
    public static Model.MimoModel LoadModel(string dir, string? quant) => Model.MimoModel.Load(dir, quant?.ToLowerInvariant() switch
    {
        null or "" or "none" => null,
        "q8_0" => Tensors.WeightFormat.Q8_0,
        "q4_k" => Tensors.WeightFormat.Q4_K,
        _ => throw new ArgumentException($"--quant \"{quant}\" is not supported: use q8_0, q4_k or none"),
    });

    /// <summary>An option with a default (System.CommandLine shows it in the help as [default: …]).</summary>
    public static Option<T> Defaulted<T>(string name, string description, T fallback) =>
        new(name) { Description = description, DefaultValueFactory = _ => fallback };

    public static Option<bool> JsonOption() => new("--json") { Description = "print one JSON object on stdout (logs go to stderr)" };

    public static Option<int> ThreadsOption() => new("--threads")
    {
        Description = "compute threads (default: all cores)",
        DefaultValueFactory = _ => Environment.ProcessorCount,
    };

    public static int[] ParseTokens(string text)
    {
        var parts = text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        var ids = new int[parts.Length];
        for (int i = 0; i < parts.Length; i++)
            if (!int.TryParse(parts[i], out ids[i]))
                throw new ArgumentException($"--tokens: \"{parts[i]}\" is not an integer token id (expected e.g. 1,2,3)");
        return ids;
    }

    public static void WriteJson(object value) => Console.Out.WriteLine(JsonSerializer.Serialize(value, Json));

    /// <summary>Runs a command body, turning expected failures into one clear line on stderr and exit code 1.</summary>
    public static int Run(Func<int> body)
    {
        try
        {
            return body();
        }
        catch (Exception e) when (e is CheckpointException or MimoConfigException or ArgumentException or IOException
                                       or InvalidOperationException or UnauthorizedAccessException)
        {
            string message = e is ArgumentException { ParamName: not null } ae
                ? e.Message.Replace($" (Parameter '{ae.ParamName}')", "")
                : e.Message;
            Console.Error.WriteLine($"error: {message}");
            return 1;
        }
    }
}

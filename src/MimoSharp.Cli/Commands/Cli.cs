using System.CommandLine;
using System.Text.Json;
using MimoSharp.Checkpoints;
using MimoSharp.Config;
using MimoSharp.Training.Checkpoints;

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

    /// <summary>The --quant values of the commands that run a model, and the format each quantises the linear weights to.</summary>
    private static readonly OrderedDictionary<string, Tensors.WeightFormat?> s_loadQuantizations = new()
    {
        ["none"] = null,
        ["q8_0"] = Tensors.WeightFormat.Q8_0,
        ["q4_k"] = Tensors.WeightFormat.Q4_K,
    };

    public static Option<string> QuantOption() =>
        Choice("--quant", "quantise linear weights at load, or none to compute on the stored weights", s_loadQuantizations, "none");

    /// <summary>The --kv-cache values: how KV caches store keys and values.</summary>
    private static readonly OrderedDictionary<string, Inference.KvCacheDtype> s_kvCacheDtypes = new()
    {
        ["f32"] = Inference.KvCacheDtype.F32,
        ["bf16"] = Inference.KvCacheDtype.BF16,
        ["f16"] = Inference.KvCacheDtype.F16,
    };

    public static Option<string> KvCacheOption() =>
        Choice("--kv-cache", "KV cache storage: f32 (exact), or bf16/f16 (half the memory; accuracy and speed in docs/long-context.md)",
            s_kvCacheDtypes, "f32");

    public static Inference.KvCacheDtype KvCache(string value) => s_kvCacheDtypes[value];

    /// <summary>Loads a model folder with the --quant and --kv-cache choices, computing on <paramref name="threads"/> threads.</summary>
    public static Model.MimoModel LoadModel(string dir, string? quant, int threads, string kvCache = "f32") => Model.MimoModel.Load(dir, new Model.ModelLoadOptions
    {
        Quantization = quant is null ? null : s_loadQuantizations[quant],
        Threads = threads,
        KvCache = KvCache(kvCache),
    });

    /// <summary>The --save-dtype values of train and distill.</summary>
    private static readonly OrderedDictionary<string, WeightDType> s_saveDTypes = new()
    {
        ["f32"] = WeightDType.F32,
        ["bf16"] = WeightDType.BF16,
    };

    public static Option<string> SaveDTypeOption(WeightDType fallback) =>
        Choice("--save-dtype", "stored weight dtype", s_saveDTypes, s_saveDTypes.First(kv => kv.Value == fallback).Key);

    public static WeightDType SaveDType(string value) => s_saveDTypes[value];

    /// <summary>
    /// An option that takes one of the names of <paramref name="choices"/>: System.CommandLine lists them in the help and
    /// refuses any other value with its own error.
    /// </summary>
    public static Option<string> Choice<T>(string name, string description, OrderedDictionary<string, T> choices, string fallback)
    {
        var option = new Option<string>(name) { Description = description, DefaultValueFactory = _ => fallback };
        option.AcceptOnlyFromAmong([.. choices.Keys]);
        return option;
    }

    /// <summary>An option with a default (System.CommandLine shows it in the help as [default: …]).</summary>
    public static Option<T> Defaulted<T>(string name, string description, T fallback) =>
        new(name) { Description = description, DefaultValueFactory = _ => fallback };

    public static Option<bool> JsonOption() => new("--json") { Description = "print one JSON object on stdout (logs go to stderr)" };

    /// <param name="fallback">The default of the options record the command fills; every core where there is none.</param>
    public static Option<int> ThreadsOption(int? fallback = null) => new("--threads")
    {
        Description = "compute threads (default: all cores)",
        DefaultValueFactory = _ => fallback ?? Environment.ProcessorCount,
    };

    /// <summary>The --threads value as a thread count (at least 1).</summary>
    public static int Threads(ParseResult r, Option<int> threads) => Math.Max(1, r.GetValue(threads));

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

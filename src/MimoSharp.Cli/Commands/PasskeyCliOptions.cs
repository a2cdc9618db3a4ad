using System.CommandLine;
using System.Globalization;
using System.Text;
using MimoSharp.Evaluation;

namespace MimoSharp.Cli.Commands;

/// <summary><c>mimo eval --passkey</c>: passkey retrieval by context length × depth on the engine (chunked prefill).</summary>
internal sealed class PasskeyCliOptions
{
    private static readonly PasskeyOptions s_defaults = new() { Lengths = [], Depths = [0, 0.25, 0.5, 0.75, 1] };

    public Option<bool> Enabled { get; } = new("--passkey")
    {
        Description = "passkey retrieval instead of held-out loss: a number hidden at a depth of filler text, asked for at the end",
    };

    public Option<string?> Lengths { get; } = new("--passkey-lengths")
    {
        Description = "prompt lengths in tokens, comma-separated (each plus the answer must fit max_position_embeddings); " +
            "default: 1024, 2048, … doubling while they fit",
    };

    public Option<string> Depths { get; } = new("--passkey-depths")
    {
        Description = "where the key goes, as fractions of the filler (0 = first, 1 = last), comma-separated",
        DefaultValueFactory = _ => string.Join(',', s_defaults.Depths.Select(d => d.ToString(CultureInfo.InvariantCulture))),
    };

    public Option<int> Trials { get; } = Cli.Defaulted("--passkey-trials", "keys per length × depth", s_defaults.Trials);
    public Option<int> Digits { get; } = Cli.Defaulted("--passkey-digits", "digits of each key", s_defaults.Digits);
    public Option<ulong> Seed { get; } = Cli.Defaulted("--passkey-seed", "seed of the keys (same seed, same keys)", s_defaults.Seed);

    public Option<string?> Filler { get; } = new("--passkey-filler")
    {
        Description = "UTF-8 text file to hide the keys in (cut into sentences, cycled); default: \"The grass is green. The sky is blue. …\"",
    };

    public Option<string> KvCache { get; } = Cli.KvCacheOption();
    public Option<string> Quant { get; } = Cli.QuantOption();

    public void AddTo(Command cmd)
    {
        foreach (Option o in new Option[] { Enabled, Lengths, Depths, Trials, Digits, Seed, Filler, KvCache, Quant }) cmd.Options.Add(o);
    }

    /// <summary>Runs the evaluation on the model folder <paramref name="dir"/>: progress on stderr, the table (or JSON) on stdout.</summary>
    public int Run(ParseResult r, string dir, int threads, bool json)
    {
        string? fillerPath = r.GetValue(Filler);
        if (fillerPath is not null && !File.Exists(fillerPath)) throw new FileNotFoundException($"--passkey-filler {fillerPath} does not exist");
        var tokenizer = Cli.TryLoadTokenizer(dir) ?? throw new FileNotFoundException($"{dir} has no tokenizer.json to build passkey prompts with");
        using var model = Cli.LoadModel(dir, r.GetValue(Quant), threads, r.GetValue(KvCache)!);
        var options = new PasskeyOptions
        {
            Lengths = r.GetValue(Lengths) is string lengths
                ? ParseList(lengths, Lengths.Name, s => int.Parse(s, NumberStyles.None, CultureInfo.InvariantCulture))
                : PasskeyOptions.DoublingLengths(model.Config.MaxPositionEmbeddings, r.GetValue(Digits)),
            Depths = ParseList(r.GetValue(Depths)!, Depths.Name, s => double.Parse(s, NumberStyles.Float, CultureInfo.InvariantCulture)),
            Trials = r.GetValue(Trials),
            Digits = r.GetValue(Digits),
            Seed = r.GetValue(Seed),
            FillerText = fillerPath is null ? null : File.ReadAllText(fillerPath),
        };
        var evaluation = new PasskeyRetrieval(model, tokenizer, options);
        evaluation.Validate();
        Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"passkey: {options.Lengths.Count} lengths × {options.Depths.Count} depths × {options.Trials} trials, {options.Digits}-digit keys, " +
            $"seed {options.Seed}, filler {fillerPath ?? "default sentences"}"));
        var report = evaluation.Run(new Progress(Console.Error));
        if (json) Cli.WriteJson(Json(report, dir, fillerPath));
        else Console.Out.Write(Table(report));
        return 0;
    }

    /// <summary>Rows: context lengths; columns: depths; each cell "retrieved/trials"; the last column the row's accuracy.</summary>
    public static string Table(PasskeyReport report)
    {
        var o = report.Options;
        var sb = new StringBuilder();
        sb.Append(CultureInfo.InvariantCulture, $"{"length \\ depth",-15}");
        foreach (double d in o.Depths) sb.Append(CultureInfo.InvariantCulture, $"{d,8:0.##}");
        sb.Append(CultureInfo.InvariantCulture, $"{"accuracy",10}\n");
        foreach (int length in o.Lengths)
        {
            sb.Append(CultureInfo.InvariantCulture, $"{length,-15:N0}");
            foreach (var cell in report.Cells.Where(c => c.Length == length))
                sb.Append(CultureInfo.InvariantCulture, $"{$"{cell.Correct}/{cell.Trials}",8}");
            sb.Append(CultureInfo.InvariantCulture, $"{$"{report.AccuracyAt(length) * 100:0}%",10}\n");
        }
        sb.Append(CultureInfo.InvariantCulture,
            $"overall {report.Accuracy * 100:0.#}% of {report.Trials.Count} trials; {report.TokensPerSecond:N0} prompt tokens/s (prefill + answer)\n");
        return sb.ToString();
    }

    private static object Json(PasskeyReport report, string dir, string? fillerPath) => new
    {
        model = dir,
        lengths = report.Options.Lengths,
        depths = report.Options.Depths,
        trials = report.Options.Trials,
        digits = report.Options.Digits,
        seed = report.Options.Seed,
        filler = fillerPath,
        accuracy = report.Options.Lengths.Select(l => report.Cells.Where(c => c.Length == l).Select(c => c.Accuracy).ToArray()).ToArray(),
        overall_accuracy = report.Accuracy,
        prompt_tokens_per_s = report.TokensPerSecond,
        cells = report.Cells.Select(c => new { length = c.Length, depth = c.Depth, correct = c.Correct, trials = c.Trials, accuracy = c.Accuracy }),
        results = report.Trials.Select(t => new
        {
            length = t.Length,
            depth = t.Depth,
            trial = t.Trial,
            passkey = t.Passkey,
            needle_position = t.NeedleStart,
            answer = t.Answer,
            correct = t.Correct,
            seconds = t.Seconds,
        }),
    };

    private static T[] ParseList<T>(string text, string option, Func<string, T> parse)
    {
        var parts = text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        var values = new T[parts.Length];
        for (int i = 0; i < parts.Length; i++)
        {
            try
            {
                values[i] = parse(parts[i]);
            }
            catch (Exception e) when (e is FormatException or OverflowException)
            {
                throw new ArgumentException($"{option}: \"{parts[i]}\" is not a number (expected e.g. {(typeof(T) == typeof(int) ? "1024,4096" : "0,0.5,1")})");
            }
        }
        return values;
    }

    /// <summary>One stderr line per trial, with the running count.</summary>
    private sealed class Progress(TextWriter log) : IProgress<PasskeyTrial>
    {
        private int _correct, _count;

        public void Report(PasskeyTrial t)
        {
            _count++;
            if (t.Correct) _correct++;
            log.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"passkey: length {t.Length:N0} depth {t.Depth:0.##} trial {t.Trial}: key {t.Passkey}, answer \"{t.Answer.Trim().ReplaceLineEndings(" ")}\" " +
                $"{(t.Correct ? "retrieved" : "missed")} ({t.Seconds:F2} s); {_correct}/{_count} so far"));
        }
    }
}

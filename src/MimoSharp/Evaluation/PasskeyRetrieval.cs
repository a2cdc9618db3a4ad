using System.Diagnostics;
using System.Globalization;
using MimoSharp.Inference;
using MimoSharp.Model;
using MimoSharp.Text;

namespace MimoSharp.Evaluation;

/// <summary>What a passkey evaluation runs: every context length × depth, <see cref="Trials"/> keys each.</summary>
public sealed record PasskeyOptions
{
    /// <summary>Prompt lengths in tokens.</summary>
    public required IReadOnlyList<int> Lengths { get; init; }

    /// <summary>Where the needle goes, as a share of the filler: 0 = first, 1 = last.</summary>
    public required IReadOnlyList<double> Depths { get; init; }

    public int Trials { get; init; } = 5;

    /// <summary>Digits of each key (no leading zero).</summary>
    public int Digits { get; init; } = 5;

    /// <summary>Seeds the keys: the same seed gives the same key for a (length, depth, trial) whatever else is run.</summary>
    public ulong Seed { get; init; } = 1;

    /// <summary>Text to hide the keys in; null = <see cref="PasskeyHaystack.DefaultFiller"/>.</summary>
    public string? FillerText { get; init; }

    /// <summary>Prompt tokens per prefill pass.</summary>
    public int PrefillChunk { get; init; } = new GenerationOptions().PrefillChunk;

    /// <summary>Tokens generated after the question: a space, the digits and slack for a model that hesitates.</summary>
    public int AnswerTokens => AnswerTokensFor(Digits);

    public static int AnswerTokensFor(int digits) => digits + 4;

    /// <summary>
    /// 1,024, 2,048, … doubling while a prompt of that length and its answer fit <paramref name="maxPositionEmbeddings"/>;
    /// a model with fewer positions gets the one length that fits.
    /// </summary>
    public static int[] DoublingLengths(int maxPositionEmbeddings, int digits)
    {
        int limit = maxPositionEmbeddings - AnswerTokensFor(digits);
        var lengths = new List<int>();
        for (long length = 1024; length <= limit; length *= 2) lengths.Add((int)length);
        return lengths.Count > 0 ? [.. lengths] : [limit];
    }

    public void Validate()
    {
        if (Lengths.Count == 0) throw new ArgumentException("give at least one passkey length", nameof(Lengths));
        if (Depths.Count == 0) throw new ArgumentException("give at least one passkey depth", nameof(Depths));
        foreach (double d in Depths)
            if (!(d >= 0 && d <= 1)) throw new ArgumentOutOfRangeException(nameof(Depths), $"passkey depth {d} is outside [0, 1]");
        if (Trials < 1) throw new ArgumentOutOfRangeException(nameof(Trials), $"passkey trials must be ≥ 1, got {Trials}");
        if (Digits is < 1 or > 18) throw new ArgumentOutOfRangeException(nameof(Digits), $"passkey digits must be in 1..18, got {Digits}");
    }
}

/// <summary>One trial: the key asked for, the model's greedy answer and whether it retrieved the key.</summary>
/// <param name="Seconds">Prefill and answer together.</param>
public sealed record PasskeyTrial(int Length, double Depth, int Trial, string Passkey, int NeedleStart, string Answer, bool Correct, double Seconds);

/// <summary>Accuracy of one context length × depth.</summary>
public sealed record PasskeyCell(int Length, double Depth, int Correct, int Trials)
{
    public double Accuracy => (double)Correct / Trials;
}

/// <summary>Every trial of a passkey evaluation and the accuracy per length × depth.</summary>
public sealed class PasskeyReport(PasskeyOptions options, IReadOnlyList<PasskeyTrial> trials)
{
    public PasskeyOptions Options { get; } = options;
    public IReadOnlyList<PasskeyTrial> Trials { get; } = trials;

    public IReadOnlyList<PasskeyCell> Cells { get; } =
        [.. options.Lengths.SelectMany(l => options.Depths.Select(d => Cell(trials, l, d)))];

    public double Accuracy => (double)Trials.Count(t => t.Correct) / Trials.Count;

    /// <summary>Prompt tokens over the seconds of all trials (each trial is one prefill plus a few decoding steps).</summary>
    public double TokensPerSecond => Trials.Sum(t => (double)t.Length) / Trials.Sum(t => t.Seconds);

    public double AccuracyAt(int length) => Cells.Where(c => c.Length == length).Sum(c => c.Correct) /
        (double)Cells.Where(c => c.Length == length).Sum(c => c.Trials);

    private static PasskeyCell Cell(IReadOnlyList<PasskeyTrial> trials, int length, double depth)
    {
        var mine = trials.Where(t => t.Length == length && t.Depth == depth).ToList();
        return new PasskeyCell(length, depth, mine.Count(t => t.Correct), mine.Count);
    }
}

/// <summary>
/// Passkey retrieval on a loaded model: for each context length × depth × trial, a seeded key is hidden in a
/// <see cref="PasskeyHaystack"/> prompt, the prompt is prefilled once (in chunks) and the model's greedy continuation
/// is scored by <see cref="Score"/>.
/// </summary>
public sealed class PasskeyRetrieval
{
    private readonly MimoModel _model;
    private readonly Tokenizer _tokenizer;
    private readonly PasskeyOptions _options;
    private readonly PasskeyHaystack _haystack;

    public PasskeyRetrieval(MimoModel model, Tokenizer tokenizer, PasskeyOptions options)
    {
        _model = model;
        _tokenizer = tokenizer;
        _options = options;
        _haystack = new PasskeyHaystack(tokenizer, options.FillerText);
    }

    /// <summary>Refuses, before any work, lengths that cannot hold the prompt or do not fit the model with the answer.</summary>
    public void Validate()
    {
        _options.Validate();
        int shortest = _haystack.MinimumLength(_options.Digits);
        int limit = _model.Config.MaxPositionEmbeddings;
        foreach (int length in _options.Lengths)
        {
            if (length < shortest)
                throw new ArgumentOutOfRangeException(nameof(PasskeyOptions.Lengths),
                    $"passkey length {length} is too short: the instruction, needle and question alone take {shortest} tokens");
            if (length + _options.AnswerTokens > limit)
                throw new ArgumentOutOfRangeException(nameof(PasskeyOptions.Lengths),
                    $"passkey length {length} plus {_options.AnswerTokens} answer tokens is beyond the model's max_position_embeddings " +
                    $"({limit}); use lengths up to {limit - _options.AnswerTokens}, or a copy of the model folder with max_position_embeddings " +
                    "raised in its config.json");
        }
    }

    /// <param name="progress">Told after every trial.</param>
    public PasskeyReport Run(IProgress<PasskeyTrial>? progress = null, CancellationToken cancellation = default)
    {
        Validate();
        var generator = new Generator(_model, new GenerationOptions
        {
            MaxTokens = _options.AnswerTokens,
            Sampling = SamplingOptions.Greedy,
            StopTokens = _model.Config.EosTokenIds,
            PrefillChunk = _options.PrefillChunk,
        });
        var trials = new List<PasskeyTrial>();
        foreach (int length in _options.Lengths)
            foreach (double depth in _options.Depths)
                for (int trial = 0; trial < _options.Trials; trial++)
                {
                    cancellation.ThrowIfCancellationRequested();
                    string key = Passkey(_options.Seed, length, depth, trial, _options.Digits);
                    var prompt = _haystack.Build(length, depth, key);
                    long started = Stopwatch.GetTimestamp();
                    var answer = new List<int>();
                    foreach (int id in generator.Generate(prompt.Tokens, cancellation)) answer.Add(id);
                    double seconds = Stopwatch.GetElapsedTime(started).TotalSeconds;
                    string text = _tokenizer.Decode(answer.ToArray(), skipSpecial: true);
                    var result = new PasskeyTrial(length, depth, trial, key, prompt.NeedleStart, text, Score(text, key), seconds);
                    trials.Add(result);
                    progress?.Report(result);
                }
        return new PasskeyReport(_options, trials);
    }

    /// <summary>Retrieved when the first number in the answer is the key: " 12345." is right, " 1234" or " 123456" wrong.</summary>
    public static bool Score(string answer, string passkey)
    {
        int start = 0;
        while (start < answer.Length && !char.IsAsciiDigit(answer[start])) start++;
        int end = start;
        while (end < answer.Length && char.IsAsciiDigit(answer[end])) end++;
        return end > start && answer.AsSpan(start, end - start).SequenceEqual(passkey);
    }

    /// <summary>
    /// The key of one trial: a SplitMix64 hash of the seed, length, depth and trial, as a number of
    /// <paramref name="digits"/> digits with no leading zero.
    /// </summary>
    public static string Passkey(ulong seed, int length, double depth, int trial, int digits)
    {
        ulong h = Mix(seed);
        h = Mix(h ^ (ulong)length);
        h = Mix(h ^ (ulong)BitConverter.DoubleToInt64Bits(depth));
        h = Mix(h ^ (ulong)trial);
        ulong low = 1;
        for (int i = 1; i < digits; i++) low *= 10;
        ulong value = low + h % (9 * low);
        return value.ToString(CultureInfo.InvariantCulture);
    }

    private static ulong Mix(ulong x)
    {
        x += 0x9E3779B97F4A7C15UL;
        x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9UL;
        x = (x ^ (x >> 27)) * 0x94D049BB133111EBUL;
        return x ^ (x >> 31);
    }
}

using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace MimoSharp.Training.Distillation;

/// <summary>
/// Builds the three MOPD domains from what the machine can install: synthetic two-digit arithmetic (checkable),
/// code (the Go and Rust standard-library sources of the pre-training corpus) and English definitions (WordNet
/// word → gloss). Each domain gets teacher fine-tuning text (train/NAME/NAME.txt, for <c>mimo corpus pack</c>) and
/// prompt files NAME.train.jsonl / NAME.heldout.jsonl. Held-out items are chosen by a hash of their key and never
/// appear in the fine-tuning text or the training prompts. Deterministic for a seed.
/// </summary>
public static partial class DomainData
{
    public static readonly string[] Domains = ["arithmetic", "code", "definitions"];

    public sealed record Summary(string Domain, int TrainPrompts, int HeldoutPrompts, long TrainTextBytes);

    /// <summary>Training prompts per domain unless told otherwise.</summary>
    public const int DefaultTrainPrompts = 2000;

    /// <summary>Held-out prompts per domain unless told otherwise.</summary>
    public const int DefaultHeldoutPrompts = 200;

    /// <summary>Seed of the shuffles unless told otherwise.</summary>
    public const int DefaultSeed = 1;

    /// <param name="corpusText">The pre-training corpus text folder (scripts/corpus.sh: .cache/corpus/text).</param>
    public static IReadOnlyList<Summary> Build(string corpusText, string output, int trainPrompts = DefaultTrainPrompts,
        int heldoutPrompts = DefaultHeldoutPrompts, int seed = DefaultSeed, TextWriter? log = null)
    {
        if (trainPrompts < 1 || heldoutPrompts < 1) throw new ArgumentException("prompt counts must be positive");
        var summaries = new List<Summary>
        {
            Arithmetic(output, trainPrompts, heldoutPrompts, seed),
            Code(RequireFile(corpusText, "go-src.txt"), RequireFile(corpusText, "rust-std.txt"), output, trainPrompts, heldoutPrompts, seed),
            Definitions(RequireFile(corpusText, "wordnet.txt"), output, trainPrompts, heldoutPrompts, seed),
        };
        foreach (var s in summaries)
            log?.WriteLine($"distill data: {s.Domain}: {s.TrainPrompts} train + {s.HeldoutPrompts} held-out prompts, {s.TrainTextBytes:N0} bytes of teacher text");
        return summaries;
    }

    private static string RequireFile(string folder, string name)
    {
        string path = Path.Combine(folder, name);
        return File.Exists(path) ? path : throw new FileNotFoundException($"{path} not found: build the corpus first (scripts/corpus.sh)");
    }

    /// <summary>a+b and a−b (a ≥ b) over 0..99; answers are exact.</summary>
    private static Summary Arithmetic(string output, int trainCount, int heldoutCount, int seed)
    {
        var all = new List<(string Problem, string Answer)>();
        for (int a = 0; a < 100; a++)
            for (int b = 0; b < 100; b++)
            {
                all.Add(($"{a}+{b}=", (a + b).ToString(CultureInfo.InvariantCulture)));
                if (a >= b) all.Add(($"{a}-{b}=", (a - b).ToString(CultureInfo.InvariantCulture)));
            }
        var random = new Random(seed);
        Shuffle(all, random);
        var heldout = all.Take(heldoutCount).ToList();
        var train = all.Skip(heldoutCount).ToList();
        // The answer doubles as the reference, so its NLL measures progress before exact matches appear.
        DistillPrompt Prompt((string Problem, string Answer) p) => new() { Prompt = p.Problem, Answer = p.Answer, Reference = p.Answer, MaxTokens = 6, Stop = ["\n"] };
        var text = new StringBuilder();
        for (int epoch = 0; epoch < 2; epoch++)
        {
            Shuffle(train, random);
            foreach (var (problem, answer) in train) text.Append(problem).Append(answer).Append('\n');
        }
        return Write(output, "arithmetic", text.ToString(), train.Take(trainCount).Select(Prompt), heldout.Select(Prompt));
    }

    [GeneratedRegex(@"^(.+?) \((noun|verb|adjective|adverb|adj|adv|adjective satellite)\): (.+)$")]
    private static partial Regex GlossLine();

    /// <summary>"word (pos): gloss" with the gloss cut before its usage examples.</summary>
    private static Summary Definitions(string wordnet, string output, int trainCount, int heldoutCount, int seed)
    {
        var items = new List<(string Head, string Gloss)>();
        foreach (var raw in File.ReadLines(wordnet))
        {
            var m = GlossLine().Match(raw.Trim());
            if (!m.Success) continue;
            string gloss = m.Groups[3].Value.Split("; ")[0].Trim();
            if (gloss.Length is < 8 or > 160) continue;
            items.Add(($"{m.Groups[1].Value} ({m.Groups[2].Value}):", gloss));
        }
        var (train, heldout) = Split(items, i => i.Head, heldoutCount, seed);
        var text = new StringBuilder();
        foreach (var (head, gloss) in train) text.Append(head).Append(' ').Append(gloss).Append('\n');
        DistillPrompt Prompt((string Head, string Gloss) i) => new() { Prompt = i.Head, Reference = " " + i.Gloss, MaxTokens = 40, Stop = ["\n"] };
        var random = new Random(seed);
        var trainPrompts = train.ToList();
        Shuffle(trainPrompts, random);
        return Write(output, "definitions", text.ToString(), trainPrompts.Take(trainCount).Select(Prompt), heldout.Select(Prompt));
    }

    /// <summary>Go and Rust source files: the prompt is a run of code lines, the reference the lines after it.</summary>
    private static Summary Code(string go, string rust, string output, int trainCount, int heldoutCount, int seed)
    {
        const int promptLines = 8, referenceLines = 3, maxPromptChars = 500;
        var documents = new List<string>();
        foreach (var file in new[] { go, rust })
            documents.AddRange(File.ReadAllText(file).Replace("\r\n", "\n").Split("\n\f\n").Where(d => d.Length > 200));
        var (trainDocs, heldoutDocs) = Split(documents, d => d[..d.IndexOf('\n')], Math.Max(1, documents.Count / 20), seed);
        var random = new Random(seed);
        List<DistillPrompt> Windows(IReadOnlyList<string> docs, int count)
        {
            var prompts = new List<DistillPrompt>();
            for (int attempts = 0; prompts.Count < count && attempts < count * 20; attempts++)
            {
                var lines = docs[random.Next(docs.Count)].Split('\n').Skip(1).ToArray();   // line 0 names the file
                if (lines.Length < promptLines + referenceLines + 1) continue;
                int start = random.Next(lines.Length - promptLines - referenceLines);
                string prompt = string.Join('\n', lines.Skip(start).Take(promptLines)) + "\n";
                string reference = string.Join('\n', lines.Skip(start + promptLines).Take(referenceLines));
                if (prompt.Length > maxPromptChars || string.IsNullOrWhiteSpace(reference) || string.IsNullOrWhiteSpace(prompt)) continue;
                prompts.Add(new DistillPrompt { Prompt = prompt, Reference = reference, MaxTokens = 32 });
            }
            return prompts;
        }
        // Teacher text: Go and Rust files shuffled together (taken in file order, the cap would keep only Go's first
        // packages), without the huge generated tables (opcode lists) that would dominate a few hundred steps.
        const int maxTextBytes = 3 << 20, maxDocumentChars = 40_000;
        var shuffled = trainDocs.Where(d => d.Length <= maxDocumentChars).ToList();
        Shuffle(shuffled, new Random(seed));
        var text = new StringBuilder();
        foreach (var d in shuffled)
        {
            if (text.Length >= maxTextBytes) break;
            text.Append(d).Append("\n\f\n");
        }
        return Write(output, "code", text.ToString(), Windows(trainDocs, trainCount), Windows(heldoutDocs, heldoutCount));
    }

    /// <summary>Held-out items are those whose key hashes lowest, so the split does not depend on the item order.</summary>
    private static (List<T> Train, List<T> Heldout) Split<T>(List<T> items, Func<T, string> key, int heldoutCount, int seed)
    {
        var keys = items.Select(key).Distinct().OrderBy(k => Fnv1a(k, seed)).ThenBy(k => k, StringComparer.Ordinal)
            .Take(heldoutCount).ToHashSet();
        var heldout = items.Where(i => keys.Contains(key(i))).GroupBy(key).Select(g => g.First())
            .OrderBy(i => Fnv1a(key(i), seed)).ToList();
        return (items.Where(i => !keys.Contains(key(i))).ToList(), heldout);
    }

    /// <summary>64-bit FNV-1a of the UTF-8 bytes, seeded: stable across runs and machines (string.GetHashCode is not).</summary>
    private static ulong Fnv1a(string text, int seed)
    {
        ulong hash = 14695981039346656037UL ^ (ulong)seed;
        foreach (byte b in Encoding.UTF8.GetBytes(text)) hash = (hash ^ b) * 1099511628211UL;
        return hash;
    }

    private static void Shuffle<T>(List<T> list, Random random)
    {
        for (int i = list.Count - 1; i > 0; i--)
        {
            int j = random.Next(i + 1);
            (list[i], list[j]) = (list[j], list[i]);
        }
    }

    private static Summary Write(string output, string domain, string text, IEnumerable<DistillPrompt> train, IEnumerable<DistillPrompt> heldout)
    {
        var trainList = train.ToList();
        var heldoutList = heldout.ToList();
        string textFolder = Path.Combine(output, "train", domain);   // one folder per domain: what `mimo corpus pack --input` takes
        Directory.CreateDirectory(textFolder);
        File.WriteAllText(Path.Combine(textFolder, domain + ".txt"), text);
        DistillPrompt.Save(Path.Combine(output, domain + ".train.jsonl"), trainList);
        DistillPrompt.Save(Path.Combine(output, domain + ".heldout.jsonl"), heldoutList);
        return new Summary(domain, trainList.Count, heldoutList.Count, Encoding.UTF8.GetByteCount(text));
    }
}

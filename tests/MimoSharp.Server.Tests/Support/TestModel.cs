using MimoSharp.Text;

namespace MimoSharp.Server.Tests.Support;

/// <summary>
/// A servable model folder made once per test run: the tiny_bf16 fixture checkpoint (random weights, 2 MTP
/// layers, vocab 384) with the real Qwen3 tokenizer cut to that vocabulary, so chat templates, special
/// tokens and streaming decoding are the real thing.
/// </summary>
public static class TestModel
{
    private static readonly Lazy<string> s_dir = new(Create);

    public static string Dir => s_dir.Value;

    public static Tokenizer Tokenizer => s_tokenizer.Value;

    private static readonly Lazy<Tokenizer> s_tokenizer = new(() => Tokenizer.FromFile(Path.Combine(Dir, "tokenizer.json")));

    public static string RepoRoot
    {
        get
        {
            for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
                if (File.Exists(Path.Combine(dir.FullName, "MimoSharp.slnx"))) return dir.FullName;
            throw new InvalidOperationException($"no MimoSharp.slnx above {AppContext.BaseDirectory}");
        }
    }

    public static string FixtureDir(string name)
    {
        string root = Environment.GetEnvironmentVariable("MIMO_FIXTURES") ?? Path.GetFullPath(Path.Combine(RepoRoot, "..", "shared", "fixtures"));
        string dir = Path.Combine(root, name);
        if (!Directory.Exists(dir)) throw new InvalidOperationException($"fixture {dir} not found: place shared/ beside the repository or set MIMO_FIXTURES");
        return dir;
    }

    private static string Create()
    {
        string dir = Path.Combine(Path.GetTempPath(), "mimo-server-tests-" + Guid.NewGuid().ToString("N"), "tiny");
        Directory.CreateDirectory(dir);
        foreach (string f in Directory.GetFiles(FixtureDir("tiny_bf16")))
            if (!Path.GetFileName(f).StartsWith("expected", StringComparison.Ordinal)) File.Copy(f, Path.Combine(dir, Path.GetFileName(f)));
        string qwen = Path.Combine(RepoRoot, ".cache", "qwen3-tokenizer", "tokenizer.json");
        if (!File.Exists(qwen)) throw new InvalidOperationException($"{qwen} is missing: run scripts/fetch-tokenizer.sh");
        int added = Tokenizer.FromFile(qwen).AddedTokens.Count;
        // vocab_size of tiny_bf16 is 384: keep 384 - added BPE ids so the added tokens fill the rest.
        TokenizerTruncation.TruncateFile(qwen, 384 - added, Path.Combine(dir, "tokenizer.json"));
        AppDomain.CurrentDomain.ProcessExit += (_, _) =>
        {
            try { Directory.Delete(Path.GetDirectoryName(dir)!, recursive: true); } catch (IOException) { }
        };
        return dir;
    }
}

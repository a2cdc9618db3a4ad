using MimoSharp.Tests.Support;
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

    public static string RepoRoot => Fixtures.RepoRoot;

    public static string FixtureDir(string name) => Fixtures.Dir(name);

    private static string Create()
    {
        string dir = Path.Combine(Path.GetTempPath(), "mimo-server-tests-" + Guid.NewGuid().ToString("N"), "tiny");
        Fixtures.WithQwenTokenizer("tiny_bf16", dir);
        AppDomain.CurrentDomain.ProcessExit += (_, _) =>
        {
            try { Directory.Delete(Path.GetDirectoryName(dir)!, recursive: true); } catch (IOException) { }
        };
        return dir;
    }
}

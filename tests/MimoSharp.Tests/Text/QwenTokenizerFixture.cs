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

    public static string LocateTokenizerJson() => Support.Fixtures.QwenTokenizerPath;
}

using System.Text.Json;
using MimoSharp.Tests.Support;
using MimoSharp.Text;

namespace MimoSharp.Tests.Cli;

/// <summary>Text in, text out: a fixture checkpoint paired with the real Qwen3 tokenizer cut to its vocabulary.</summary>
public sealed class TextGenerationCliTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "mimo-text-" + Guid.NewGuid().ToString("N"));

    public TextGenerationCliTests() => Fixtures.WithQwenTokenizer("tiny_bf16", _dir);

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void GenerateTakesTextAndReturnsText()
    {
        var r = MimoProcess.Run("generate", "Once upon a time", "--model", _dir, "--max-tokens", "12", "--json");
        Assert.True(r.ExitCode == 0, r.Stderr);
        var root = JsonDocument.Parse(r.Stdout).RootElement;
        var tok = Tokenizer.FromFile(Path.Combine(_dir, "tokenizer.json"));
        int[] prompt = Fixtures.Ints(root.GetProperty("prompt_ids"));
        Assert.Equal(tok.Encode("Once upon a time"), prompt);
        int[] ids = Fixtures.Ints(root.GetProperty("generated_ids"));
        Assert.Equal(12, ids.Length);
        Assert.Equal(tok.Decode(ids), root.GetProperty("text").GetString());

        var plain = MimoProcess.Run("generate", "--prompt", "Once upon a time", "--model", _dir, "--max-tokens", "12");
        Assert.True(plain.ExitCode == 0, plain.Stderr);
        Assert.Equal(tok.Decode(ids), plain.Stdout.TrimEnd('\n'));
    }

    [Fact]
    public void ChatAnswersEachLineOfInput()
    {
        var r = MimoProcess.RunWithInput("Hello there\nAnd again\n/exit\n", "chat", "--model", _dir, "--max-tokens", "8");
        Assert.True(r.ExitCode == 0, r.Stderr);
        Assert.Equal(2, r.Stderr.Split('\n').Count(l => l.StartsWith("[") && l.Contains("tok/s]")));
    }

    [Fact]
    public void TextPromptWithoutTokenizerIsAClearError()
    {
        var r = MimoProcess.Run("generate", "Hello", "--model", Fixtures.Dir("tiny_f32"));
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("tokenizer.json", r.Stderr);
    }
}

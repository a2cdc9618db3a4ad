using System.Text.Json;
using MimoSharp.Tests.Support;
using MimoSharp.Training.Tests.Support;

namespace MimoSharp.Training.Tests.Cli;

/// <summary>mimo corpus pack / train / eval as a user runs them.</summary>
public class TrainCliTests
{
    [Fact]
    public void PackTrainResumeAndEvaluateFromTheCommandLine()
    {
        using var run = new TinyRun();
        string corpus = run.Out("cli-corpus");
        var pack = MimoProcess.Run("corpus", "pack", "--input", run.TextDir, "--tokenizer", run.Tokenizer, "--out", corpus, "--heldout", "0.1");
        Assert.True(pack.ExitCode == 0, pack.Stderr);

        string ckpt = run.Out("cli-ckpt");
        string[] common = ["train", "--data", corpus, "--out", ckpt, "--config", run.ConfigPath, "--mtp-layers", "2", "--steps", "6",
            "--batch-size", "2", "--context", "32", "--eval-every", "3", "--eval-windows", "4", "--threads", "1", "--log-every", "1",
            "--rope-theta", "20000"];
        var train = MimoProcess.Run([.. common, "--max-steps-this-run", "3"]);
        Assert.True(train.ExitCode == 0, train.Stderr);
        Assert.Contains("step 3/6", train.Stderr);
        Assert.Contains("tok/s", train.Stderr);
        Assert.Contains("ETA", train.Stderr);
        Assert.Contains("max/mean expert load", train.Stderr);
        Assert.Contains("held-out loss", train.Stderr);

        var again = MimoProcess.Run(common);
        Assert.Equal(1, again.ExitCode);
        Assert.Contains("--resume", again.Stderr);
        var resumed = MimoProcess.Run([.. common, "--resume"]);
        Assert.True(resumed.ExitCode == 0, resumed.Stderr);
        Assert.Contains("step 6/6", resumed.Stderr);
        var saved = JsonDocument.Parse(File.ReadAllText(Path.Combine(ckpt, "config.json"))).RootElement;
        Assert.Equal(20000.0, saved.GetProperty("rope_theta").GetDouble());        // --rope-theta: the global layers' base
        Assert.Equal(10000.0, saved.GetProperty("swa_rope_theta").GetDouble());

        string text = Path.Combine(run.TextDir, "counting.txt");
        var eval = MimoProcess.Run("eval", "--model", ckpt, "--text-file", text, "--json", "--context", "32", "--threads", "1");
        Assert.True(eval.ExitCode == 0, eval.Stderr);
        var json = JsonDocument.Parse(eval.Stdout).RootElement;
        Assert.True(json.GetProperty("tokens").GetInt64() > 100);
        double loss = json.GetProperty("loss").GetDouble();
        Assert.Equal(Math.Exp(loss), json.GetProperty("perplexity").GetDouble(), 6);
        long bytes = json.GetProperty("bytes").GetInt64();
        Assert.Equal(new FileInfo(text).Length, bytes);   // ASCII text, every token evaluated: the file's own size
        // Bits per byte = bits per token × tokens per byte; the scored tokens are all but the first of each window.
        double perScored = loss / Math.Log(2) * json.GetProperty("tokens").GetInt64() / bytes;
        Assert.InRange(json.GetProperty("bits_per_byte").GetDouble(), perScored, perScored * 1.1);
        Assert.Equal(2, json.GetProperty("mtp_accuracy").GetArrayLength());

        var human = MimoProcess.Run("eval", "--model", ckpt, "--text-file", text, "--context", "32", "--threads", "1");
        Assert.Contains("perplexity", human.Stdout);
        Assert.Contains("MTP depth 1", human.Stdout);
    }

    [Fact]
    public void BadArgumentsGiveOneClearLine()
    {
        using var run = new TinyRun();
        var missing = MimoProcess.Run("train", "--data", run.Out("nope"), "--out", run.Out("x"), "--config", run.ConfigPath);
        Assert.Equal(1, missing.ExitCode);
        Assert.StartsWith("error: ", missing.Stderr);
        Assert.Contains("not found", missing.Stderr);

        var noSource = MimoProcess.Run("train", "--data", run.Corpus, "--out", run.Out("x"));
        Assert.Equal(1, noSource.ExitCode);
        Assert.Contains("--config", noSource.Stderr);

        var noText = MimoProcess.Run("eval", "--model", run.Out("x"), "--text-file", run.Out("missing.txt"));
        Assert.Equal(1, noText.ExitCode);
        Assert.Contains("missing.txt", noText.Stderr);

        File.WriteAllBytes(Path.Combine(run.Corpus, "train-00000.bin"), []);
        var empty = MimoProcess.Run("train", "--data", run.Corpus, "--out", run.Out("y"), "--config", run.ConfigPath, "--context", "32");
        Assert.Equal(1, empty.ExitCode);
        Assert.Contains("is empty", empty.Stderr);
        Assert.DoesNotContain("   at ", empty.Stderr);
    }
}

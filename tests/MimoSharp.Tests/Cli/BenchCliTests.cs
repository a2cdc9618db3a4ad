using System.Text.Json;
using MimoSharp.Tests.Support;

namespace MimoSharp.Tests.Cli;

/// <summary><c>mimo bench</c>'s batch and text-file options: what they report, and the errors for bad values.</summary>
public sealed class BenchCliTests
{
    private static string DefaultModelDir => Path.Combine(Fixtures.RepoRoot, "models", "default");

    [Fact]
    public void ABatchRunReportsItsSizeThePromptFromTheFileAndTheRoofline()
    {
        using var dir = new TempFolder("mimo-bench-"); Directory.CreateDirectory(dir.Path);
        string text = Path.Combine(dir.Path, "prompt.txt");
        File.WriteAllText(text, "The river runs past the old mill.");
        var r = MimoProcess.Run("bench", "--model", DefaultModelDir, "--batch", "3", "--prompt", "40", "--text-file", text,
            "--gen", "4", "--repeat", "1", "--bandwidth", "30", "--json");
        Assert.True(r.ExitCode == 0, r.Stderr);
        var root = JsonDocument.Parse(r.Stdout).RootElement;
        Assert.Equal(3, root.GetProperty("batch").GetInt32());
        Assert.Equal(40, root.GetProperty("prompt_tokens").GetInt32());   // the file's tokens repeated up to --prompt
        Assert.True(root.GetProperty("decode_tokens_per_s").GetDouble() > 0);
        Assert.True(root.GetProperty("peak_flops_per_s").GetDouble() > 1e9);
        // Three rows read the weights once: the roofline allows well over one row's memory-bound rate.
        double limitOneRow = root.GetProperty("bandwidth_limit_tokens_per_s").GetDouble();
        Assert.True(root.GetProperty("roofline_tokens_per_s").GetDouble() > 1.5 * limitOneRow);
        foreach (var depth in root.GetProperty("speculative_fixed").EnumerateArray())
            Assert.True(depth.GetProperty("roofline_speedup").GetDouble() > 0);
    }

    [Fact]
    public void BadBatchAndMissingTextFileAreNamed()
    {
        var batch = MimoProcess.Run("bench", "--model", DefaultModelDir, "--batch", "0", "--gen", "4", "--repeat", "1", "--bandwidth", "30");
        Assert.NotEqual(0, batch.ExitCode);
        Assert.Contains("--batch must be ≥ 1", batch.Stderr);

        var missing = MimoProcess.Run("bench", "--model", DefaultModelDir, "--text-file", "/nonexistent/prompt.txt", "--gen", "4", "--repeat", "1", "--bandwidth", "30");
        Assert.NotEqual(0, missing.ExitCode);
        Assert.Contains("--text-file /nonexistent/prompt.txt does not exist", missing.Stderr);

        using var dir = new TempFolder("mimo-bench-"); Directory.CreateDirectory(dir.Path);
        string empty = Path.Combine(dir.Path, "empty.txt");
        File.WriteAllText(empty, "");
        var none = MimoProcess.Run("bench", "--model", DefaultModelDir, "--text-file", empty, "--gen", "4", "--repeat", "1", "--bandwidth", "30");
        Assert.NotEqual(0, none.ExitCode);
        Assert.Contains("holds no text", none.Stderr);
    }
}

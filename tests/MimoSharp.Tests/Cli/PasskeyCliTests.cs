using System.Text.Json;
using MimoSharp.Tests.Support;

namespace MimoSharp.Tests.Cli;

/// <summary><c>mimo eval --passkey</c> as a user runs it on the shipped model (its accuracy is not asserted).</summary>
public sealed class PasskeyCliTests
{
    private static string DefaultModelDir => Path.Combine(Fixtures.RepoRoot, "models", "default");

    /// <summary>The shipped model's position limit, read from its config: a context-extension stage raises it.</summary>
    private static int ShippedPositions =>
        JsonDocument.Parse(File.ReadAllText(Path.Combine(DefaultModelDir, "config.json"))).RootElement.GetProperty("max_position_embeddings").GetInt32();

    [Fact]
    public void JsonHoldsAccuracyPerLengthAndDepthAndEveryTrial()
    {
        var r = MimoProcess.Run("eval", "--passkey", "--model", DefaultModelDir, "--passkey-lengths", "128,200", "--passkey-depths", "0,0.5,1",
            "--passkey-trials", "1", "--threads", "1", "--json");
        Assert.True(r.ExitCode == 0, r.Stderr);
        var root = JsonDocument.Parse(r.Stdout).RootElement;
        var accuracy = root.GetProperty("accuracy");
        Assert.Equal(2, accuracy.GetArrayLength());
        Assert.All(accuracy.EnumerateArray(), row => Assert.Equal(3, row.GetArrayLength()));
        Assert.Equal(6, root.GetProperty("cells").GetArrayLength());
        var results = root.GetProperty("results");
        Assert.Equal(6, results.GetArrayLength());
        foreach (var t in results.EnumerateArray())
        {
            Assert.Equal(5, t.GetProperty("passkey").GetString()!.Length);
            Assert.Equal(t.GetProperty("correct").GetBoolean(),
                MimoSharp.Evaluation.PasskeyRetrieval.Score(t.GetProperty("answer").GetString()!, t.GetProperty("passkey").GetString()!));
        }
        Assert.InRange(root.GetProperty("overall_accuracy").GetDouble(), 0, 1);
        Assert.Contains("passkey: length 200 depth 1 trial 0", r.Stderr);

        // Without --passkey-lengths: 1,024 doubling while prompt and answer (5 digits + 4 tokens) fit the shipped model's positions.
        var expected = new List<int>();
        for (int length = 1024; length + 9 <= ShippedPositions; length *= 2) expected.Add(length);
        var defaults = MimoProcess.Run("eval", "--passkey", "--model", DefaultModelDir, "--passkey-depths", "0.5", "--passkey-trials", "1",
            "--threads", "1", "--json");
        Assert.True(defaults.ExitCode == 0, defaults.Stderr);
        Assert.Equal(expected, JsonDocument.Parse(defaults.Stdout).RootElement.GetProperty("lengths").EnumerateArray().Select(e => e.GetInt32()));

        var table = MimoProcess.Run("eval", "--passkey", "--model", DefaultModelDir, "--passkey-lengths", "128", "--passkey-depths", "0,1",
            "--passkey-trials", "1", "--threads", "1");
        Assert.True(table.ExitCode == 0, table.Stderr);
        Assert.Contains("length \\ depth", table.Stdout);
        Assert.Contains("overall", table.Stdout);
    }

    [Fact]
    public void TooLongAPromptNamesTheLimit()
    {
        int limit = ShippedPositions;   // a prompt of exactly the limit leaves no room for the answer
        var r = MimoProcess.Run("eval", "--passkey", "--model", DefaultModelDir, "--passkey-lengths", $"1024,{limit}");
        Assert.Equal(1, r.ExitCode);
        Assert.StartsWith("error: ", r.Stderr);
        Assert.Contains($"max_position_embeddings ({limit})", r.Stderr);
        Assert.DoesNotContain("Parameter", r.Stderr);

        var both = MimoProcess.Run("eval", "--passkey", "--model", DefaultModelDir, "--text-file", "x.txt");
        Assert.Equal(1, both.ExitCode);
        Assert.Contains("not both", both.Stderr);
        var bad = MimoProcess.Run("eval", "--passkey", "--model", DefaultModelDir, "--passkey-depths", "0,half");
        Assert.Equal(1, bad.ExitCode);
        Assert.Contains("\"half\"", bad.Stderr);
    }
}

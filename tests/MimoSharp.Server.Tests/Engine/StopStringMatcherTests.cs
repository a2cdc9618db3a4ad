using MimoSharp.Server.Engine;

namespace MimoSharp.Server.Tests.Engine;

public sealed class StopStringMatcherTests
{
    // Feeds the text cut at the given points; returns what came out and whether it stopped.
    private static (string Output, bool Stopped) Run(string text, int[] cuts, params string[] stops)
    {
        var matcher = new StopStringMatcher(stops);
        var output = new System.Text.StringBuilder();
        int from = 0;
        foreach (int cut in cuts.Append(text.Length))
        {
            output.Append(matcher.Push(text[from..cut]));
            from = cut;
        }
        output.Append(matcher.Flush());
        return (output.ToString(), matcher.Stopped);
    }

    [Fact]
    public void TheOutputEndsBeforeTheFirstStopStringWhereverTheTextIsCut()
    {
        const string text = "Hello wor world END tail END";
        for (int a = 0; a <= text.Length; a++)
            for (int b = a; b <= text.Length; b += 3)
            {
                var (output, stopped) = Run(text, [a, b], "END", "world E");
                Assert.True(stopped);
                Assert.Equal("Hello wor ", output);
            }
    }

    [Fact]
    public void APrefixThatNeverCompletesIsReleased()
    {
        for (int a = 0; a <= 9; a++)
        {
            var (output, stopped) = Run("abc STO P", [a], "STOP");
            Assert.False(stopped);
            Assert.Equal("abc STO P", output);
        }
        Assert.Equal(("text ST", false), Run("text ST", [7], "STOP"));
    }

    [Fact]
    public void NoStopStringsPassEverythingThrough()
    {
        var matcher = new StopStringMatcher([]);
        Assert.Equal("abc", matcher.Push("abc"));
        Assert.Equal("", matcher.Flush());
        Assert.False(matcher.Stopped);
    }

    [Fact]
    public void NothingComesOutAfterAStop()
    {
        var matcher = new StopStringMatcher(["x"]);
        Assert.Equal("a", matcher.Push("axb"));
        Assert.Equal("", matcher.Push("more"));
        Assert.Equal("", matcher.Flush());
    }
}

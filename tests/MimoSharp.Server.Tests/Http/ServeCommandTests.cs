using System.ClientModel;
using System.Diagnostics;
using System.Text.RegularExpressions;
using MimoSharp.Server.Tests.Support;
using OpenAI;
using OpenAI.Chat;

namespace MimoSharp.Server.Tests.Http;

/// <summary>`mimo serve` as a user runs it: a separate process on a free loopback port.</summary>
public sealed partial class ServeCommandTests
{
    [GeneratedRegex(@"on (http://127\.0\.0\.1:\d+)")]
    private static partial Regex ListeningOn();

    private static Process Start(params string[] args)
    {
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
        psi.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "mimo.dll"));
        foreach (string a in args) psi.ArgumentList.Add(a);
        return Process.Start(psi)!;
    }

    [Fact]
    public async Task ServeAnswersTheOpenAiClientAndStreams()
    {
        using var process = Start("serve", "--model", TestModel.Dir, "--port", "0", "--served-model-name", "tiny", "--threads", "1");
        try
        {
            string? url = null;
            var deadline = DateTime.UtcNow.AddMinutes(1);
            while (url is null && DateTime.UtcNow < deadline && await process.StandardError.ReadLineAsync() is { } line)
                if (ListeningOn().Match(line) is { Success: true } m) url = m.Groups[1].Value;
            Assert.True(url is not null, "mimo serve did not report its address");
            _ = process.StandardError.ReadToEndAsync();   // keep the pipe drained

            var client = new ChatClient("tiny", new ApiKeyCredential("unused"), new OpenAIClientOptions { Endpoint = new Uri(url + "/v1") });
            var options = new ChatCompletionOptions { MaxOutputTokenCount = 6, Seed = 9, Temperature = 0.7f };
            ChatCompletion completion = await client.CompleteChatAsync([new UserChatMessage("Hello")], options);
            Assert.Equal(6, completion.Usage.OutputTokenCount);
            var streamed = new System.Text.StringBuilder();
            await foreach (var update in client.CompleteChatStreamingAsync([new UserChatMessage("Hello")], options))
                foreach (var part in update.ContentUpdate) streamed.Append(part.Text);
            Assert.Equal(completion.Content[0].Text, streamed.ToString());
        }
        finally
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
        }
    }

    [Theory]
    [InlineData("--port", "70000", "--port")]
    [InlineData("--max-running", "0", "--max-running")]
    [InlineData("--max-queue", "-1", "--max-queue")]
    [InlineData("--speculative", "5", "--speculative")]
    [InlineData("--timeout", "0", "--timeout")]
    public async Task BadFlagsAreOneClearErrorNamingTheFlag(string flag, string value, string named)
    {
        using var process = Start("serve", "--model", TestModel.Dir, flag, value);
        string stderr = await process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        Assert.Equal(1, process.ExitCode);
        Assert.StartsWith("error: ", stderr);
        Assert.Contains(named, stderr);
    }
}

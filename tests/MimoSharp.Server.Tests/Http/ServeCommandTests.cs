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

    /// <summary>Starts `mimo serve` on a free port and reads the address it reports.</summary>
    private static async Task<(Process Process, string Url)> ServeAsync(params string[] args)
    {
        var process = Start(["serve", "--model", TestModel.Dir, "--port", "0", "--served-model-name", "tiny", "--threads", "1", .. args]);
        string? url = null;
        var deadline = DateTime.UtcNow.AddMinutes(1);
        while (url is null && DateTime.UtcNow < deadline && await process.StandardError.ReadLineAsync() is { } line)
            if (ListeningOn().Match(line) is { Success: true } m) url = m.Groups[1].Value;
        if (url is null)
        {
            process.Kill(entireProcessTree: true);
            Assert.Fail("mimo serve did not report its address");
        }
        _ = process.StandardError.ReadToEndAsync();   // keep the pipe drained
        return (process, url);
    }

    private static async Task StopAsync(Process process)
    {
        process.Kill(entireProcessTree: true);
        await process.WaitForExitAsync();
        process.Dispose();
    }

    [Fact]
    public async Task ServeAnswersTheOpenAiClientAndStreams()
    {
        var (process, url) = await ServeAsync();
        try
        {
            var client = new ChatClient("tiny", new ApiKeyCredential("unused"), new OpenAIClientOptions { Endpoint = new Uri(url + "/v1") });
            var options = new ChatCompletionOptions { MaxOutputTokenCount = 6, Seed = 9, Temperature = 0.7f };
            ChatCompletion completion = await client.CompleteChatAsync([new UserChatMessage("Hello")], options);
            Assert.Equal(6, completion.Usage.OutputTokenCount);
            var streamed = new System.Text.StringBuilder();
            await foreach (var update in client.CompleteChatStreamingAsync([new UserChatMessage("Hello")], options))
                foreach (var part in update.ContentUpdate) streamed.Append(part.Text);
            Assert.Equal(completion.Content[0].Text, streamed.ToString());

            // The chat page is on by default.
            using var http = new HttpClient();
            using var page = await http.GetAsync(url + "/");
            Assert.Equal(System.Net.HttpStatusCode.OK, page.StatusCode);
            Assert.Equal("text/html", page.Content.Headers.ContentType!.MediaType);
        }
        finally
        {
            await StopAsync(process);
        }
    }

    [Fact]
    public async Task NoChatPageServesOnlyTheApi()
    {
        var (process, url) = await ServeAsync("--no-chat-page");
        try
        {
            using var http = new HttpClient();
            using var page = await http.GetAsync(url + "/");
            Assert.Equal(System.Net.HttpStatusCode.NotFound, page.StatusCode);
            using var models = await http.GetAsync(url + "/v1/models");
            Assert.Equal(System.Net.HttpStatusCode.OK, models.StatusCode);
        }
        finally
        {
            await StopAsync(process);
        }
    }

    [Theory]
    [InlineData("--port", "70000", "--port")]
    [InlineData("--max-running", "0", "--max-running")]
    [InlineData("--max-queue", "-1", "--max-queue")]
    [InlineData("--speculative", "5", "--speculative")]
    [InlineData("--timeout", "0", "--timeout")]
    [InlineData("--api-key", " ", "--api-key")]
    [InlineData("--max-connections", "0", "--max-connections")]
    [InlineData("--rate-limit", "-1", "--rate-limit")]
    [InlineData("--max-body-kb", "0", "--max-body-kb")]
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

using System.Text.Json;

namespace MimoSharp.Server.Tests.Support;

/// <summary>Reads an OpenAI server-sent-event stream: one JSON per "data:" line until "[DONE]".</summary>
public static class Sse
{
    public static async IAsyncEnumerable<JsonElement> ReadAsync(HttpResponseMessage response,
        [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellation = default)
    {
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync(cancellation));
        while (await reader.ReadLineAsync(cancellation) is { } line)
        {
            if (line.Length == 0) continue;
            Assert.StartsWith("data: ", line);
            string data = line["data: ".Length..];
            if (data == "[DONE]") yield break;
            yield return JsonDocument.Parse(data).RootElement.Clone();
        }
        Assert.Fail("the stream ended without data: [DONE]");
    }

    /// <summary>Sends a streaming request and returns the response as soon as its headers arrive.</summary>
    public static async Task<HttpResponseMessage> StartAsync(HttpClient http, string path, string json, CancellationToken cancellation = default)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = new StringContent(json, System.Text.Encoding.UTF8, "application/json") };
        return await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellation);
    }
}

namespace MimoSharp.Server.Engine;

/// <summary>
/// How fast one request was served, from the engine's clock: time to the first token (queueing and prefill
/// included), decoding speed after it, and what speculative decoding bought. Acceptance length counts only
/// tokens the request received: drafts accepted past max_tokens or a stop token are not emitted, so they
/// are not counted either.
/// </summary>
/// <param name="TimeToFirstTokenMs">Milliseconds from the request entering the queue to its first token.</param>
/// <param name="TokensPerSecond">Tokens after the first chunk over the time from the first to the last token (0 with one chunk).</param>
/// <param name="DecodeSteps">Main-model forward passes that emitted tokens after the prefill.</param>
/// <param name="AcceptanceLength">Tokens emitted per decoding step (1 without drafting; 0 before any step).</param>
/// <param name="DraftDepth">MTP drafts per step the request ran with (0 = plain decoding).</param>
public sealed record GenerationTimings(double TimeToFirstTokenMs, double TokensPerSecond, int DecodeSteps, double AcceptanceLength, int DraftDepth)
{
    /// <summary>
    /// From timestamps (<see cref="System.Diagnostics.Stopwatch"/> ticks) and the emitted chunks: the prefill
    /// emits the first chunk and each decoding step one more, so steps = chunks − 1.
    /// </summary>
    internal static GenerationTimings From(long submitted, long firstToken, long lastToken, int firstChunkTokens, int tokens, int chunks, int draftDepth)
    {
        if (chunks == 0) return new GenerationTimings(0, 0, 0, 0, draftDepth);
        double frequency = System.Diagnostics.Stopwatch.Frequency;
        double ttft = (firstToken - submitted) * 1000.0 / frequency;
        double decodeSeconds = (lastToken - firstToken) / frequency;
        int decodeTokens = tokens - firstChunkTokens;
        int steps = chunks - 1;
        return new GenerationTimings(
            ttft,
            decodeSeconds > 0 ? decodeTokens / decodeSeconds : 0,
            steps,
            steps > 0 ? (double)decodeTokens / steps : 0,
            draftDepth);
    }
}

using MimoSharp.Inference;
using MimoSharp.Server.Engine;

namespace MimoSharp.Server.Http;

/// <summary>
/// The validated fields chat and text completions share: sampling, limits, stop strings, streaming.
/// <see cref="MaxTokensField"/> is the name the client used for the limit (max_tokens or max_completion_tokens).
/// </summary>
internal sealed record GenerationFields(
    SamplingOptions Sampling, int? MaxTokens, string MaxTokensField, IReadOnlyList<string> Stop, bool IgnoreEos, bool Stream, bool IncludeUsage)
{
    /// <summary>Starts a generation, renaming the engine's "max_tokens" errors to the field the client used.</summary>
    public T Start<T>(Func<T> start)
    {
        try
        {
            return start();
        }
        catch (InvalidRequestException e) when (e.ParamName == "max_tokens" && MaxTokensField != "max_tokens")
        {
            throw new InvalidRequestException(MaxTokensField, e.Reason.Replace("max_tokens", MaxTokensField), e.Code, e.StatusCode);
        }
    }
}

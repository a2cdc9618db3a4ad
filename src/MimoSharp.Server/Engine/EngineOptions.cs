using MimoSharp.Inference;

namespace MimoSharp.Server.Engine;

/// <summary>
/// Limits and defaults of one served model: how many sequences run at once and wait, how long a request may
/// be, and how far the MTP layers draft. Null means "the model's own value" (context length, MTP layer count).
/// </summary>
public sealed record EngineOptions
{
    /// <summary>The name clients pass as "model"; null = the model folder's name.</summary>
    public string? ModelId { get; init; }

    /// <summary>Sequences decoded together in one forward pass; more requests wait in the queue.</summary>
    public int MaxRunningSequences { get; init; } = 16;

    /// <summary>Requests that may wait for a running slot; past that, new requests are turned away (HTTP 429).</summary>
    public int MaxQueuedRequests { get; init; } = 64;

    /// <summary>Prompt plus completion tokens of one request; null = max_position_embeddings.</summary>
    public int? MaxContextTokens { get; init; }

    /// <summary>The largest max_tokens a request may ask for; null = the context length.</summary>
    public int? MaxTokensLimit { get; init; }

    /// <summary>
    /// Fixed MTP draft depth (0 turns speculative decoding off); null = adaptive up to every MTP layer the checkpoint
    /// has, for the requests where adaptive depth applies, and plain decoding for the others.
    /// </summary>
    public int? Speculative { get; init; }

    /// <summary>
    /// Let each sequence pick its draft depth per step from measured costs (up to <see cref="Speculative"/>).
    /// Applied only where it cannot change the output: greedy requests and sampled ones without a seed — with
    /// a seed, the depth would decide which random numbers are drawn, and timing would leak into the tokens.
    /// </summary>
    public bool AdaptiveSpeculation { get; init; }

    /// <summary>Threads the model computes on, the scheduler's included; null = the process default (every core).</summary>
    public int? Threads { get; init; }

    /// <summary>How the sequences' KV caches store keys and values (f32 exact; f16/bf16 half the bytes).</summary>
    public KvCacheDtype KvCache { get; init; } = KvCacheDtype.F32;

    /// <summary>Checks the values before anything is loaded; names the option at fault.</summary>
    public void Validate()
    {
        if (MaxRunningSequences < 1)
            throw new ArgumentOutOfRangeException(nameof(MaxRunningSequences), $"max running sequences must be ≥ 1, got {MaxRunningSequences}");
        if (MaxQueuedRequests < 0)
            throw new ArgumentOutOfRangeException(nameof(MaxQueuedRequests), $"max queued requests must be ≥ 0, got {MaxQueuedRequests}");
        if (MaxContextTokens is < 2)
            throw new ArgumentOutOfRangeException(nameof(MaxContextTokens), $"max context must be ≥ 2 tokens, got {MaxContextTokens}");
        if (MaxTokensLimit is < 1)
            throw new ArgumentOutOfRangeException(nameof(MaxTokensLimit), $"max tokens limit must be ≥ 1, got {MaxTokensLimit}");
        if (Speculative is < 0)
            throw new ArgumentOutOfRangeException(nameof(Speculative), $"speculative draft depth must be ≥ 0, got {Speculative}");
        if (Threads is < 1)
            throw new ArgumentOutOfRangeException(nameof(Threads), $"threads must be ≥ 1, got {Threads}");
        if (ModelId is { Length: 0 })
            throw new ArgumentException("the model id must not be empty", nameof(ModelId));
    }
}

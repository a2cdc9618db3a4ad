using MimoSharp.Inference;
using MimoSharp.Model;
using MimoSharp.Text;

namespace MimoSharp.Server.Engine;

/// <summary>
/// A served model: the checkpoint, its tokenizer and one continuous-batching scheduler that every request
/// shares. Turns chat and completion requests into prompts, checks them against the model's limits
/// (throwing <see cref="InvalidRequestException"/> naming the field at fault), and returns their output as
/// it is generated. Thread-safe; the HTTP server and <see cref="AI.MimoChatClient"/> both sit on top of it.
/// </summary>
public sealed class MimoEngine : IDisposable
{
    private readonly IGenerationQueue _queue;
    private readonly ModelLimits _limits;
    private readonly MimoModel? _ownedModel;
    private readonly int[] _stopIds;

    /// <summary>Loads the model folder (config.json, safetensors and tokenizer.json) and starts the scheduler.</summary>
    public static MimoEngine Load(string modelDirectory, EngineOptions? options = null)
    {
        options ??= new EngineOptions();
        options.Validate();
        string tokenizerPath = Path.Combine(modelDirectory, "tokenizer.json");
        if (!File.Exists(tokenizerPath))
            throw new FileNotFoundException($"serving needs a tokenizer: {tokenizerPath} does not exist", tokenizerPath);
        var tokenizer = Tokenizer.FromFile(tokenizerPath);
        var model = MimoModel.Load(modelDirectory, new ModelLoadOptions { Threads = options.Threads, KvCache = options.KvCache });
        try
        {
            string id = options.ModelId ?? Path.GetFileName(Path.GetFullPath(modelDirectory).TrimEnd(Path.DirectorySeparatorChar));
            return new MimoEngine(model, tokenizer, options with { ModelId = id }, ownsModel: true);
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }

    /// <summary>Serves an already loaded model; the caller keeps ownership of it unless <paramref name="ownsModel"/>.</summary>
    public MimoEngine(MimoModel model, Tokenizer tokenizer, EngineOptions? options = null, bool ownsModel = false)
        : this((metrics, o) => new BatchScheduler(model, metrics, o.MaxRunningSequences, o.MaxQueuedRequests),
               new ModelLimits(model.VocabSize, model.Config.MaxPositionEmbeddings, model.MtpLayers.Count, model.Config.EosTokenIds),
               tokenizer, options ?? new EngineOptions())
    {
        _ownedModel = ownsModel ? model : null;
    }

    /// <summary>For tests: any token source behind the same request handling.</summary>
    internal MimoEngine(Func<EngineMetrics, EngineOptions, IGenerationQueue> queue, ModelLimits limits, Tokenizer tokenizer, EngineOptions options)
    {
        options.Validate();
        if (options.Speculative > limits.MtpLayers)
            throw new ArgumentOutOfRangeException(nameof(EngineOptions.Speculative),
                $"speculative draft depth {options.Speculative} is more than the checkpoint's {limits.MtpLayers} MTP layers");
        _limits = limits;
        Tokenizer = tokenizer;
        Options = options;
        ModelId = options.ModelId ?? "mimo";
        ContextLength = Math.Min(options.MaxContextTokens ?? limits.MaxPositionEmbeddings, limits.MaxPositionEmbeddings);
        MaxTokensLimit = Math.Min(options.MaxTokensLimit ?? ContextLength, ContextLength);
        SpeculativeDepth = options.Speculative ?? limits.MtpLayers;
        var stops = new List<int>(limits.EosTokenIds);
        foreach (string name in new[] { "<|im_end|>", "<|endoftext|>" })
            if (tokenizer.TryGetId(name, out int id) && id < limits.VocabSize && !stops.Contains(id)) stops.Add(id);
        _stopIds = stops.ToArray();
        _queue = queue(Metrics, options);
    }

    /// <summary>The name clients use for this model ("model" in requests).</summary>
    public string ModelId { get; }
    public EngineOptions Options { get; }
    public Tokenizer Tokenizer { get; }
    public EngineMetrics Metrics { get; } = new();
    public DateTimeOffset Created { get; } = DateTimeOffset.UtcNow;

    /// <summary>Prompt plus completion tokens a request may use.</summary>
    public int ContextLength { get; }

    /// <summary>The largest max_tokens accepted.</summary>
    public int MaxTokensLimit { get; }

    /// <summary>MTP drafts per decoding step (0 = plain decoding).</summary>
    public int SpeculativeDepth { get; }

    /// <summary>Token ids that end generation: the config's EOS ids plus &lt;|im_end|&gt; and &lt;|endoftext|&gt;.</summary>
    public IReadOnlyList<int> StopTokenIds => _stopIds;

    /// <summary>Renders the conversation with MiMo's chat template, checks it and queues it.</summary>
    /// <exception cref="InvalidRequestException">A field is out of range or the prompt does not fit.</exception>
    /// <exception cref="ServerBusyException">The queue is full.</exception>
    public ChatGeneration StartChat(ChatRequest request, CancellationToken cancellation = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (request.Messages.Count == 0)
            throw new InvalidRequestException("messages", "messages must contain at least one message", "empty_messages");
        string text = ChatTemplate.Render(request.Messages, request.Tools, request.EnableThinking, addGenerationPrompt: true);
        int[] prompt = Tokenizer.Encode(text);
        var ticket = Submit(prompt, "messages", request.MaxTokens, request.Sampling, request.Stop, request.IgnoreEos, cancellation);
        return new ChatGeneration(new TextGeneration(ticket, Tokenizer, _stopIds, request.Stop), request.Tools, startInReasoning: false);
    }

    /// <summary>Tokenizes (or takes) the prompt, checks it and queues it.</summary>
    public TextGeneration StartCompletion(CompletionRequest request, CancellationToken cancellation = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        IReadOnlyList<int> prompt = request.PromptIds ?? (request.Prompt is { } p ? Tokenizer.Encode(p)
            : throw new InvalidRequestException("prompt", "prompt is required: give a string or an array of token ids", "missing_prompt"));
        for (int i = 0; i < prompt.Count; i++)
            if ((uint)prompt[i] >= (uint)_limits.VocabSize)
                throw new InvalidRequestException($"prompt[{i}]", $"token id {prompt[i]} is outside the vocabulary 0..{_limits.VocabSize - 1}", "invalid_token");
        var ticket = Submit(prompt, "prompt", request.MaxTokens, request.Sampling, request.Stop, request.IgnoreEos, cancellation);
        return new TextGeneration(ticket, Tokenizer, _stopIds, request.Stop);
    }

    private GenerationTicket Submit(IReadOnlyList<int> prompt, string promptField, int? maxTokens, SamplingOptions sampling,
        IReadOnlyList<string> stop, bool ignoreEos, CancellationToken cancellation)
    {
        if (prompt.Count == 0)
            throw new InvalidRequestException(promptField, $"the {promptField} encode to no tokens: give some text", "empty_prompt");
        if (prompt.Count >= ContextLength)
            throw new InvalidRequestException(promptField,
                $"this model's maximum context length is {ContextLength} tokens and the {promptField} take {prompt.Count}, leaving no room for a completion",
                "context_length_exceeded");
        if (maxTokens is int m)
        {
            if (m < 1) throw new InvalidRequestException("max_tokens", $"max_tokens must be ≥ 1, got {m}", "invalid_value");
            if (m > MaxTokensLimit)
                throw new InvalidRequestException("max_tokens", $"max_tokens is {m}, more than this server allows ({MaxTokensLimit})", "invalid_value");
            if (prompt.Count + m > ContextLength)
                throw new InvalidRequestException("max_tokens",
                    $"this model's maximum context length is {ContextLength} tokens; the {promptField} take {prompt.Count} and max_tokens asks for {m} more",
                    "context_length_exceeded");
        }
        for (int i = 0; i < stop.Count; i++)
            if (string.IsNullOrEmpty(stop[i])) throw new InvalidRequestException($"stop[{i}]", "stop strings must not be empty", "invalid_value");
        try
        {
            sampling.Validate();
        }
        catch (ArgumentOutOfRangeException e)
        {
            throw new InvalidRequestException(SamplingField(e.ParamName), e.Message.Replace($" (Parameter '{e.ParamName}')", ""), "invalid_value");
        }
        // Without a fixed depth the default is adaptive, never slower than plain decoding (the default model: fixed
        // K=3 decoded at 0.62x plain, adaptive at 1.0x); a seeded sampled request, where the depth would change
        // which random numbers are drawn, then decodes plain.
        bool adaptive = (Options.AdaptiveSpeculation || Options.Speculative is null) && (sampling.IsGreedy || sampling.Seed is null);
        var options = new GenerationOptions
        {
            MaxTokens = maxTokens ?? Math.Min(MaxTokensLimit, ContextLength - prompt.Count),
            Sampling = sampling,
            StopTokens = ignoreEos ? [] : _stopIds,
            Speculative = adaptive || Options.Speculative is not null ? SpeculativeDepth : 0,
            AdaptiveSpeculation = adaptive,
        };
        return _queue.Submit(prompt, options, cancellation);
    }

    private static string SamplingField(string? property) => property switch
    {
        nameof(SamplingOptions.Temperature) => "temperature",
        nameof(SamplingOptions.TopP) => "top_p",
        nameof(SamplingOptions.TopK) => "top_k",
        nameof(SamplingOptions.MinP) => "min_p",
        nameof(SamplingOptions.RepetitionPenalty) => "repetition_penalty",
        _ => property ?? "sampling",
    };

    /// <summary>Stops the scheduler (running requests end with an error) and releases the model if owned.</summary>
    public void Dispose()
    {
        _queue.Dispose();
        _ownedModel?.Dispose();
    }
}

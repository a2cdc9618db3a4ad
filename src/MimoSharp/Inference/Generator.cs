using MimoSharp.Model;

namespace MimoSharp.Inference;

/// <summary>
/// Generates tokens for one sequence and streams them as they are produced: a <see cref="DecodeSequence"/>
/// stepped by a <see cref="BatchDecoder"/> of its own (the prompt in one batched prefill, then decoding steps,
/// with MTP drafts when <see cref="GenerationOptions.Speculative"/> &gt; 0).
/// </summary>
public sealed class Generator
{
    private readonly MimoModel _model;
    private readonly GenerationOptions _options;
    private readonly Func<SequenceCaches, IDraftSource>? _draftSource;
    private AdaptiveDraftLength? _policy;   // kept across calls: a chat's later turns start from what the first measured

    public GenerationStats Stats { get; private set; } = new();

    /// <summary>Why the last generation stopped.</summary>
    public FinishReason? FinishReason { get; private set; }

    public Generator(MimoModel model, GenerationOptions options) : this(model, options, null) { }

    /// <param name="draftSource">Makes the draft source for a sequence; null = the checkpoint's MTP layers.</param>
    public Generator(MimoModel model, GenerationOptions options, Func<SequenceCaches, IDraftSource>? draftSource)
    {
        options.Validate(model.MtpLayers.Count, draftSource is not null);
        _model = model;
        _options = options;
        _draftSource = draftSource;
    }

    /// <summary>Checks a prompt before any work: non-empty, ids in the vocabulary, within the context length.</summary>
    public static void ValidatePrompt(MimoModel model, IReadOnlyList<int> prompt) => DecodeSequence.ValidatePrompt(model, prompt);

    /// <summary>Yields generated token ids as they are produced.</summary>
    public IEnumerable<int> Generate(IReadOnlyList<int> prompt, CancellationToken cancellation = default)
    {
        var sequence = new DecodeSequence(_model, prompt, _options, _draftSource);
        if (sequence.IsAdaptive) _policy ??= BatchDecoder.CreatePolicy(_model, Math.Max(_model.MtpLayers.Count, _options.Speculative));
        Stats = sequence.Stats;
        return Run(sequence, cancellation);
    }

    private IEnumerable<int> Run(DecodeSequence sequence, CancellationToken cancellation)
    {
        var decoder = new BatchDecoder(_model, _policy);
        var batch = new[] { sequence };
        while (!sequence.IsFinished)
        {
            cancellation.ThrowIfCancellationRequested();
            decoder.Step(batch);
            var emitted = sequence.LastEmitted;
            for (int i = 0; i < emitted.Count; i++) yield return emitted[i];   // indexed: no enumerator allocated per step
        }
        FinishReason = sequence.FinishReason;
    }
}

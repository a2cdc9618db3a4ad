using System.Diagnostics;
using MimoSharp.Model;
using MimoSharp.Tensors;

namespace MimoSharp.Inference;

/// <summary>
/// Generates tokens for one sequence: the prompt in one batched prefill, then decoding steps. A step
/// drafts K tokens with the MTP layers (K = 0: none), runs the main model once over the pending token
/// and the drafts, keeps the longest accepted prefix (greedy: equal to the main model's argmax;
/// sampling: the speculative-sampling rule), and samples one more token from the main model. With
/// K = 0 this is plain decoding; with greedy sampling every K yields the same tokens.
/// </summary>
public sealed class Generator
{
    private readonly MimoModel _model;
    private readonly GenerationOptions _options;
    private readonly Func<SequenceCaches, IDraftSource>? _draftSource;

    public GenerationStats Stats { get; private set; } = new();

    public Generator(MimoModel model, GenerationOptions options) : this(model, options, null) { }

    /// <param name="draftSource">Makes the draft source for a sequence; null = the checkpoint's MTP layers.</param>
    public Generator(MimoModel model, GenerationOptions options, Func<SequenceCaches, IDraftSource>? draftSource)
    {
        options.Sampling.Validate();
        if (options.MaxTokens < 0)
            throw new ArgumentOutOfRangeException(nameof(options), $"max tokens must be ≥ 0, got {options.MaxTokens}");
        if (options.Speculative < 0 || (draftSource is null && options.Speculative > model.MtpLayers.Count))
            throw new ArgumentOutOfRangeException(nameof(options),
                $"--speculative {options.Speculative} is out of range: this checkpoint has {model.MtpLayers.Count} MTP layers");
        _model = model;
        _options = options;
        _draftSource = draftSource;
    }

    /// <summary>Checks a prompt before any work: non-empty, ids in the vocabulary, within the context length.</summary>
    public static void ValidatePrompt(MimoModel model, IReadOnlyList<int> prompt)
    {
        if (prompt.Count == 0) throw new ArgumentException("the prompt is empty: give at least one token", nameof(prompt));
        for (int i = 0; i < prompt.Count; i++)
            if ((uint)prompt[i] >= (uint)model.VocabSize)
                throw new ArgumentOutOfRangeException(nameof(prompt),
                    $"prompt token {i} has id {prompt[i]}, outside the vocabulary 0..{model.VocabSize - 1}");
        if (prompt.Count > model.Config.MaxPositionEmbeddings)
            throw new ArgumentException(
                $"the prompt has {prompt.Count} tokens, more than max_position_embeddings ({model.Config.MaxPositionEmbeddings})", nameof(prompt));
    }

    /// <summary>Yields generated token ids as they are produced.</summary>
    public IEnumerable<int> Generate(IReadOnlyList<int> prompt, CancellationToken cancellation = default)
    {
        ValidatePrompt(_model, prompt);
        return Run(prompt, cancellation);
    }

    private IEnumerable<int> Run(IReadOnlyList<int> prompt, CancellationToken cancellation)
    {
        int k = _options.Speculative, v = _model.VocabSize, h = _model.HiddenSize, maxPos = _model.Config.MaxPositionEmbeddings;
        var stats = new GenerationStats
        {
            PromptTokens = prompt.Count,
            DraftDepth = k,
            DraftsProposed = new long[k],
            DraftsAccepted = new long[k],
            AcceptedHistogram = new long[k + 1],
        };
        Stats = stats;
        if (_options.MaxTokens == 0) yield break;

        var sampler = new Sampler(_options.Sampling);
        var caches = _model.CreateCaches(lookahead: k);
        IDraftSource? drafter = k == 0 ? null : _draftSource?.Invoke(caches) ?? new MtpDrafter(_model, caches, k);
        var stop = new HashSet<int>(_options.StopTokens);
        var tokens = new List<int>(prompt);   // prompt, emitted tokens, then this step's drafts
        var logits = new float[(k + 1) * v];
        var probs = new float[(k + 1) * v];
        var draftProbs = new float[Math.Max(k, 1) * v];
        var scratch = new float[v];
        var clock = Stopwatch.StartNew();

        // Prefill: the whole prompt in one pass; only the last row's logits are needed.
        int n = prompt.Count;
        var prefillHidden = new float[n * h];
        _model.Forward(tokens.ToArray(), BatchLayout.Single(0, n), [caches], prefillHidden);
        drafter?.ObserveHidden(0, prefillHidden, n);
        _model.Logits(prefillHidden.AsSpan((n - 1) * h, h), 1, logits);
        int pending = sampler.Sample(logits.AsSpan(0, v), tokens, scratch);
        stats.PrefillSeconds = clock.Elapsed.TotalSeconds;
        clock.Restart();

        tokens.Add(pending);
        stats.GeneratedTokens = 1;
        yield return pending;
        if (stop.Contains(pending) || stats.GeneratedTokens >= _options.MaxTokens) yield break;

        var verifyHidden = new float[(k + 1) * h];
        var step = new int[k + 1];
        while (true)
        {
            cancellation.ThrowIfCancellationRequested();
            clock.Start();
            // n = positions in the main cache; tokens[n] is the pending token, not yet run through the model.
            if (n + 1 >= maxPos) { clock.Stop(); yield break; }
            int drafts = Math.Min(k, Math.Min(maxPos - n - 1, _options.MaxTokens - stats.GeneratedTokens));
            drafts = Math.Max(0, drafts);
            for (int d = 0; d < drafts; d++)
            {
                var q = draftProbs.AsSpan(d * v, v);
                drafter!.DraftLogits(d, n, tokens, scratch);
                sampler.Distribution(scratch, tokens, q);
                int draft = _options.Sampling.IsGreedy ? VectorMath.ArgMax(q) : sampler.Draw(q);
                tokens.Add(draft);
                stats.DraftsProposed[d]++;
            }

            // Verify: the pending token and the drafts in one forward pass.
            int rows = drafts + 1;
            for (int i = 0; i < rows; i++) step[i] = tokens[n + i];
            _model.Forward(step.AsSpan(0, rows), BatchLayout.Single(n, rows), [caches], verifyHidden);
            _model.Logits(verifyHidden, rows, logits);

            int accepted = 0, next = -1;
            var history = new HistoryView(tokens);
            for (int i = 0; i < rows; i++)
            {
                history.Count = n + i + 1;
                var p = probs.AsSpan(i * v, v);
                sampler.Distribution(logits.AsSpan(i * v, v), history, p);
                if (i == drafts)
                {
                    next = _options.Sampling.IsGreedy ? VectorMath.ArgMax(p) : sampler.Draw(p);
                    break;
                }
                int draft = tokens[n + i + 1];
                var q = draftProbs.AsSpan(i * v, v);
                if (_options.Sampling.IsGreedy ? draft == VectorMath.ArgMax(p) : sampler.NextUniform() * q[draft] < p[draft])
                {
                    accepted++;
                    stats.DraftsAccepted[i]++;
                    continue;
                }
                if (_options.Sampling.IsGreedy)
                {
                    next = VectorMath.ArgMax(p);
                }
                else
                {
                    // Rejected: draw from the normalised residual max(0, p − q).
                    for (int j = 0; j < v; j++) scratch[j] = Math.Max(0f, p[j] - q[j]);
                    Sampler.Normalize(scratch);
                    next = sampler.Draw(scratch);
                }
                break;
            }

            caches.TruncateMain(n + accepted + 1);
            drafter?.TruncateHidden(n);
            drafter?.ObserveHidden(n, verifyHidden, accepted + 1);
            tokens.RemoveRange(n + 1 + accepted, tokens.Count - (n + 1 + accepted));
            n += accepted + 1;
            tokens.Add(next);
            stats.DecodeSteps++;
            stats.AcceptedHistogram[accepted]++;
            clock.Stop();
            stats.DecodeSeconds = clock.Elapsed.TotalSeconds;

            // Emit the accepted drafts, then the main model's own token.
            for (int i = n - accepted; i <= n; i++)
            {
                int id = tokens[i];
                stats.GeneratedTokens++;
                yield return id;
                if (stop.Contains(id) || stats.GeneratedTokens >= _options.MaxTokens) yield break;
            }
        }
    }

    /// <summary>The first <see cref="Count"/> tokens of a list, without copying (the penalty's history).</summary>
    private sealed class HistoryView(List<int> tokens) : IReadOnlyList<int>
    {
        public int Count { get; set; } = tokens.Count;
        public int this[int index] => index < Count ? tokens[index] : throw new ArgumentOutOfRangeException(nameof(index));
        public IEnumerator<int> GetEnumerator() { for (int i = 0; i < Count; i++) yield return tokens[i]; }
        System.Collections.IEnumerator System.Collections.IEnumerable.GetEnumerator() => GetEnumerator();
    }
}

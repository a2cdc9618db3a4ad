using System.Runtime.InteropServices;
using MimoSharp.Model;
using MimoSharp.Tensors;

namespace MimoSharp.Inference;

/// <summary>Why a sequence stopped.</summary>
public enum FinishReason
{
    /// <summary>A stop token was generated.</summary>
    Stop,

    /// <summary>The token budget (max tokens or the context length) ran out.</summary>
    Length,

    /// <summary>The caller cancelled it.</summary>
    Cancelled,
}

/// <summary>
/// One sequence being generated: its caches, sampler, drafts and counters. A step has two halves around
/// the main model's forward pass, which <see cref="BatchDecoder"/> shares among sequences: <see cref="PrepareStep"/>
/// (drafting; the rows to run) and <see cref="CompleteStep"/> (verification, sampling, emission). The first
/// step is the prefill of the whole prompt; each later step runs the pending token plus K MTP drafts, keeps
/// the longest accepted prefix (greedy: the main model's argmax; sampling: the speculative-sampling rule) and
/// samples one more token. With K = 0 this is plain decoding; with greedy sampling every K gives the same tokens.
/// </summary>
public sealed class DecodeSequence
{
    private readonly MimoModel _model;
    private readonly Sampler _sampler;
    private readonly IDraftSource? _drafter;
    private readonly HashSet<int> _stop;
    private readonly List<int> _tokens;     // prompt, emitted tokens, then this step's drafts
    private readonly List<int> _generated;
    private readonly List<int> _lastEmitted;
    private readonly HistoryView _history;  // the penalty's view of _tokens during verification
    private readonly float[] _probs, _draftProbs, _scratch, _logits;
    private readonly int _k, _maxPos;
    private int _n;                          // positions in the main cache; _tokens[_n] is the pending token
    private int _drafts;                     // drafts proposed in the current step
    private double _draftSeconds;            // time the current step spent drafting
    private bool _prefilled;
    private int _prefillDone;                // prompt tokens already run (chunked prefill)
    private int _chunk;                      // rows in the current step

    public GenerationOptions Options { get; }
    public GenerationStats Stats { get; }
    public IReadOnlyList<int> Prompt { get; }
    public IReadOnlyList<int> Generated => _generated;

    /// <summary>Tokens the last step emitted, in order.</summary>
    public IReadOnlyList<int> LastEmitted => _lastEmitted;

    public bool IsFinished => FinishReason is not null;
    public FinishReason? FinishReason { get; private set; }
    public SequenceCaches Caches { get; }

    public DecodeSequence(MimoModel model, IReadOnlyList<int> prompt, GenerationOptions options,
        Func<SequenceCaches, IDraftSource>? draftSource = null)
    {
        options.Validate(model.MtpLayers.Count, draftSource is not null);
        ValidatePrompt(model, prompt);
        _model = model;
        Options = options;
        Prompt = prompt.ToArray();
        _k = options.Speculative;
        _maxPos = model.Config.MaxPositionEmbeddings;
        _sampler = new Sampler(options.Sampling);
        Caches = model.CreateCaches(lookahead: _k);
        _drafter = _k == 0 ? null : draftSource?.Invoke(Caches) ?? new MtpDrafter(model, Caches, _k);
        _stop = new HashSet<int>(options.StopTokens);
        // Sized for the whole generation up front (4 bytes a token), so that steps do not grow them.
        int budget = Math.Max(0, Math.Min(options.MaxTokens, _maxPos - prompt.Count));
        _tokens = new List<int>(prompt.Count + budget + _k + 1);
        for (int i = 0; i < prompt.Count; i++) _tokens.Add(prompt[i]);
        _generated = new List<int>(budget);
        _lastEmitted = new List<int>(_k + 1);
        _history = new HistoryView(_tokens);
        int v = model.VocabSize;
        _probs = new float[v];
        _draftProbs = new float[Math.Max(_k, 1) * v];
        _scratch = new float[v];
        _logits = new float[v];
        Stats = new GenerationStats
        {
            PromptTokens = prompt.Count,
            DraftDepth = _k,
            DraftsProposed = new long[_k],
            DraftsAccepted = new long[_k],
            AcceptedHistogram = new long[_k + 1],
        };
        if (options.MaxTokens == 0) FinishReason = Inference.FinishReason.Length;
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

    public void Cancel()
    {
        FinishReason ??= Inference.FinishReason.Cancelled;
    }

    internal bool IsPrefill => !_prefilled;

    /// <summary>The chunk of the prompt this step runs, or 0 once the prefill is done.</summary>
    private int PrefillChunk => _prefilled ? 0 : Math.Min(Options.PrefillChunk, Prompt.Count - _prefillDone);

    /// <summary>
    /// First half of a step, after <see cref="PlanDrafts"/> and the drafts: the rows the main model must run (a view of
    /// this sequence's tokens, valid until <see cref="CompleteStep"/>).
    /// </summary>
    internal ReadOnlySpan<int> PrepareStep(out int startPosition)
    {
        _lastEmitted.Clear();
        var tokens = CollectionsMarshal.AsSpan(_tokens);
        if (!_prefilled)
        {
            // Long prompts go in chunks: bounded activation memory, and other sequences keep decoding between them.
            startPosition = _prefillDone;
            _chunk = PrefillChunk;
            return tokens.Slice(_prefillDone, _chunk);
        }
        startPosition = _n;
        return tokens.Slice(_n, _drafts + 1);
    }

    /// <summary>Where this sequence's drafts come from (null without speculation).</summary>
    internal IDraftSource? Drafter => _drafter;

    /// <summary>Positions in the main cache; the pending token sits at this index of <see cref="Tokens"/>.</summary>
    internal int CachedLength => _n;

    /// <summary>Prompt, emitted tokens and this step's drafts so far.</summary>
    internal IReadOnlyList<int> Tokens => _tokens;

    /// <summary>Whether the batch's policy picks this sequence's depth per step (up to <see cref="GenerationOptions.Speculative"/>).</summary>
    public bool IsAdaptive => _k > 0 && Options.AdaptiveSpeculation;

    /// <summary>Drafts the last step proposed and how many of them were accepted (0 and 0 for a prefill).</summary>
    internal (int Proposed, int Accepted) LastVerified { get; private set; }

    /// <summary>
    /// Opens a step (before <see cref="PrepareStep"/>): the number of drafts it proposes, its fixed K or, when adaptive,
    /// the batch policy's <paramref name="adaptiveDepth"/>, within the token budget and the context; 0 for a prefill
    /// step. <see cref="BatchDrafter"/> then adds them depth by depth.
    /// </summary>
    internal int PlanDrafts(int adaptiveDepth)
    {
        _draftSeconds = 0;
        LastVerified = (0, 0);
        if (!_prefilled || IsFinished) return _drafts = 0;
        int depth = IsAdaptive ? Math.Min(adaptiveDepth, _k) : _k;
        return _drafts = Math.Max(0, Math.Min(depth, Math.Min(_maxPos - _n - 1, Options.MaxTokens - _generated.Count)));
    }

    /// <summary>Drafts this step proposes (set by <see cref="PlanDrafts"/>).</summary>
    internal int PlannedDrafts => _drafts;

    /// <summary>Depth <paramref name="depth"/>'s draft, drawn from the drafter's logits (overwritten), which took <paramref name="seconds"/>.</summary>
    internal void AddDraft(int depth, Span<float> logits, double seconds)
    {
        int v = _model.VocabSize;
        var q = _draftProbs.AsSpan(depth * v, v);
        _sampler.Distribution(logits, _tokens, q);
        int draft = Options.Sampling.IsGreedy ? VectorMath.ArgMax(q) : _sampler.Draw(q);
        _tokens.Add(draft);
        Stats.DraftsProposed[depth]++;
        _draftSeconds += seconds;
    }

    /// <summary>Rows of this step whose logits <see cref="CompleteStep"/> needs (the prefill needs only its last).</summary>
    internal int LogitRows => _prefilled ? _drafts + 1 : _prefillDone + _chunk == Prompt.Count ? 1 : 0;

    /// <summary>Second half of a step: hidden states of every row run, logits of the last <see cref="LogitRows"/> rows, and the main pass's time.</summary>
    internal void CompleteStep(ReadOnlySpan<float> hidden, ReadOnlySpan<float> logits, double seconds)
    {
        int v = _model.VocabSize;
        var scratchLogits = _logits;
        if (!_prefilled)
        {
            _drafter?.ObserveHidden(_prefillDone, hidden, _chunk);
            _prefillDone += _chunk;
            Stats.PrefillSeconds += seconds;
            if (_prefillDone < Prompt.Count) return;
            _prefilled = true;
            _n = Prompt.Count;
            logits[..v].CopyTo(scratchLogits);
            int first = _sampler.Sample(scratchLogits, _tokens, _scratch);
            _tokens.Add(first);
            Emit(first);
            return;
        }

        int accepted = 0, next = -1;
        var history = _history;
        for (int i = 0; i <= _drafts; i++)
        {
            history.Count = _n + i + 1;
            logits.Slice(i * v, v).CopyTo(scratchLogits);
            _sampler.Distribution(scratchLogits, history, _probs);
            var p = _probs.AsSpan();
            bool greedy = Options.Sampling.IsGreedy;
            if (i == _drafts)
            {
                next = SpeculativeVerification.Bonus(p, greedy, _sampler);
                break;
            }
            var q = _draftProbs.AsSpan(i * v, v);
            if (SpeculativeVerification.Accept(_tokens[_n + i + 1], p, q, greedy, _sampler))
            {
                accepted++;
                Stats.DraftsAccepted[i]++;
                continue;
            }
            next = SpeculativeVerification.Correct(p, q, greedy, _sampler, _scratch);
            break;
        }

        Caches.TruncateMain(_n + accepted + 1);
        _drafter?.TruncateHidden(_n);
        _drafter?.ObserveHidden(_n, hidden, accepted + 1);
        _tokens.RemoveRange(_n + 1 + accepted, _tokens.Count - (_n + 1 + accepted));
        _n += accepted + 1;
        _tokens.Add(next);
        Stats.DecodeSteps++;
        Stats.AcceptedHistogram[accepted]++;
        LastVerified = (_drafts, accepted);
        Stats.DecodeSeconds += seconds + _draftSeconds;   // the main pass (seconds) came after the drafts
        for (int i = _n - accepted; i <= _n && !IsFinished; i++) Emit(_tokens[i]);
    }

    private void Emit(int id)
    {
        _generated.Add(id);
        _lastEmitted.Add(id);
        Stats.GeneratedTokens = _generated.Count;
        if (_stop.Contains(id)) FinishReason = Inference.FinishReason.Stop;
        else if (_generated.Count >= Options.MaxTokens || _n + 1 >= _maxPos) FinishReason = Inference.FinishReason.Length;
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

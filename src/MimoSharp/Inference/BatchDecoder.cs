using System.Diagnostics;
using MimoSharp.Model;

namespace MimoSharp.Inference;

/// <summary>
/// The speculative step: advances several sequences by one step with ONE main-model forward pass. New sequences
/// contribute their whole prompt (prefill), running ones their pending token plus drafts (<see cref="BatchDrafter"/>,
/// batched too); each sequence then verifies and accepts its drafts (<see cref="DecodeSequence.CompleteStep"/>). The
/// draft depth of adaptive sequences is chosen here, once for the batch, by <see cref="Policy"/>. Sequences may join or
/// leave between steps (continuous batching); because every row is computed the same way whatever else is in the pass,
/// a sequence's tokens with a given seed do not depend on its neighbours.
/// </summary>
public sealed class BatchDecoder(MimoModel model, AdaptiveDraftLength? policy = null)
{
    // Reused across steps so that a decoding step allocates nothing.
    private float[] _hidden = [], _picked = [], _logits = [];
    private int[] _tokens = [];
    private BatchLayout.Segment[] _segments = [];
    private readonly BatchLayout _layout = new();
    private readonly BatchDrafter _drafter = new(model);
    private readonly List<DecodeSequence> _active = [], _adaptive = [];
    private readonly List<SequenceCaches> _caches = [];
    private AdaptiveDraftLength? _policy = policy;

    public MimoModel Model => model;

    /// <summary>
    /// The depth policy of adaptive sequences: given, or made on the first step that has one (null before), with the
    /// roofline calibrated to the measured plain steps as its prior.
    /// </summary>
    public AdaptiveDraftLength? Policy => _policy;

    /// <summary>The adaptive policy for <paramref name="model"/>: depths up to <paramref name="maxDepth"/>, the roofline calibrated to its measured plain steps as the prior.</summary>
    public static AdaptiveDraftLength CreatePolicy(MimoModel model, int maxDepth) =>
        new(maxDepth, (batch, context, plainSeconds) => DecodeRoofline.Calibrated(model, batch, context, plainSeconds),
            model.Config.SlidingWindow, model.Layers.Count);

    /// <summary>The buffer, grown (contents kept: the step's tokens are appended sequence by sequence) to hold length.</summary>
    private static T[] Fit<T>(ref T[] buffer, int length)
    {
        if (buffer.Length < length) Array.Resize(ref buffer, Math.Max(length, 2 * buffer.Length));
        return buffer;
    }

    /// <summary>Runs one step for every unfinished sequence given; afterwards each one's <see cref="DecodeSequence.LastEmitted"/> holds its new tokens.</summary>
    public void Step(IReadOnlyList<DecodeSequence> sequences) => Step(sequences, adaptiveDepth: null);

    /// <summary>A step whose adaptive sequences draft <paramref name="adaptiveDepth"/> deep (tests script depths with it); null: the policy's choice.</summary>
    internal void Step(IReadOnlyList<DecodeSequence> sequences, int? adaptiveDepth)
    {
        var active = _active;
        active.Clear();
        for (int i = 0; i < sequences.Count; i++) if (!sequences[i].IsFinished) active.Add(sequences[i]);
        if (active.Count == 0) return;

        // The adaptive sequences' depth: one for the batch (its step time is shared), from the policy's measured costs.
        _adaptive.Clear();
        int prefills = 0;
        long context = 0;
        foreach (var s in active)
        {
            if (s.IsPrefill) prefills++;
            else if (s.IsAdaptive) { _adaptive.Add(s); context += s.CachedLength; }
        }
        int adaptive = _adaptive.Count;
        int depth = adaptiveDepth ?? 0;
        if (adaptive > 0 && adaptiveDepth is null)
        {
            _policy ??= CreatePolicy(model, Math.Max(model.MtpLayers.Count, _adaptive[0].Options.Speculative));
            depth = _policy.Next(adaptive, (int)(context / adaptive));
        }

        // Drafts first, then one main pass verifies every sequence's rows.
        long stepStarted = Stopwatch.GetTimestamp();
        bool caughtUp = _drafter.Draft(active, depth);
        long passStarted = Stopwatch.GetTimestamp();
        int h = model.HiddenSize, v = model.VocabSize;
        var segments = Fit(ref _segments, active.Count);
        _caches.Clear();
        int total = 0, logitRows = 0;
        for (int i = 0; i < active.Count; i++)
        {
            var rows = active[i].PrepareStep(out int start);
            rows.CopyTo(Fit(ref _tokens, total + rows.Length).AsSpan(total));
            segments[i] = new BatchLayout.Segment(total, rows.Length, start);
            total += rows.Length;
            logitRows += active[i].LogitRows;
            _caches.Add(active[i].Caches);
        }
        var hidden = Fit(ref _hidden, total * h);
        model.Forward(_tokens.AsSpan(0, total), _layout.Set(segments.AsSpan(0, active.Count)), _caches, hidden.AsSpan(0, total * h));

        // Logits only for the rows that need them: the last prompt row of a prefill, every row of a verify step.
        var picked = Fit(ref _picked, logitRows * h);
        for (int i = 0, r = 0; i < active.Count; i++)
        {
            int need = active[i].LogitRows, last = segments[i].FirstRow + segments[i].Length;
            hidden.AsSpan((last - need) * h, need * h).CopyTo(picked.AsSpan(r * h));
            r += need;
        }
        var logits = Fit(ref _logits, logitRows * v);
        model.Logits(picked.AsSpan(0, logitRows * h), logitRows, logits.AsSpan(0, logitRows * v));
        double seconds = Stopwatch.GetElapsedTime(passStarted).TotalSeconds;
        for (int i = 0, r = 0; i < active.Count; i++)
        {
            int need = active[i].LogitRows;
            active[i].CompleteStep(hidden.AsSpan(segments[i].FirstRow * h, segments[i].Length * h), logits.AsSpan(r * v, need * v), seconds);
            r += need;
        }
        _caches.Clear();   // no references kept to sequences that may finish before the next step
        if (adaptive == 0 || adaptiveDepth is not null) return;
        int emitted = 0;
        foreach (var s in _adaptive)
        {
            var (proposed, accepted) = s.LastVerified;
            _policy!.RecordAcceptance(proposed, accepted);
            emitted += s.LastEmitted.Count;
        }
        // The step's time is the depth's cost only without prefill rows or MTP catch-up in it.
        _policy!.RecordStep(depth, adaptive, Stopwatch.GetElapsedTime(stepStarted).TotalSeconds, emitted, prefill: prefills > 0, caughtUp);
    }
}

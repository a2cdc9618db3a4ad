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
    // Reused across steps so that decoding does not allocate per token.
    private float[] _hidden = [], _picked = [], _logits = [];
    private readonly BatchDrafter _drafter = new(model);
    private readonly List<DecodeSequence> _adaptive = [];
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

    private static float[] Fit(ref float[] buffer, int length)
    {
        if (buffer.Length < length) buffer = new float[length];
        return buffer;
    }

    /// <summary>Runs one step for every unfinished sequence given; afterwards each one's <see cref="DecodeSequence.LastEmitted"/> holds its new tokens.</summary>
    public void Step(IReadOnlyList<DecodeSequence> sequences) => Step(sequences, adaptiveDepth: null);

    /// <summary>A step whose adaptive sequences draft <paramref name="adaptiveDepth"/> deep (tests script depths with it); null: the policy's choice.</summary>
    internal void Step(IReadOnlyList<DecodeSequence> sequences, int? adaptiveDepth)
    {
        var active = new List<DecodeSequence>(sequences.Count);
        foreach (var s in sequences) if (!s.IsFinished) active.Add(s);
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
        var clock = Stopwatch.StartNew();
        int h = model.HiddenSize, v = model.VocabSize;
        var rows = new int[active.Count][];
        var segments = new BatchLayout.Segment[active.Count];
        int total = 0, logitRows = 0;
        for (int i = 0; i < active.Count; i++)
        {
            rows[i] = active[i].PrepareStep(out int start);
            segments[i] = new BatchLayout.Segment(total, rows[i].Length, start);
            total += rows[i].Length;
            logitRows += active[i].LogitRows;
        }
        var tokens = new int[total];
        for (int i = 0; i < active.Count; i++) rows[i].CopyTo(tokens, segments[i].FirstRow);
        var hidden = Fit(ref _hidden, total * h);
        model.Forward(tokens, new BatchLayout(segments), active.Select(s => s.Caches).ToArray(), hidden.AsSpan(0, total * h));

        // Logits only for the rows that need them: the last prompt row of a prefill, every row of a verify step.
        var picked = Fit(ref _picked, logitRows * h);
        for (int i = 0, r = 0; i < active.Count; i++)
        {
            int need = active[i].LogitRows, last = segments[i].FirstRow + segments[i].Length;
            hidden.AsSpan((last - need) * h, need * h).CopyTo(picked.AsSpan(r * h));
            r += need;
        }
        var logits = Fit(ref _logits, logitRows * v);
        model.Logits(picked, logitRows, logits);
        double seconds = clock.Elapsed.TotalSeconds;
        for (int i = 0, r = 0; i < active.Count; i++)
        {
            int need = active[i].LogitRows;
            active[i].CompleteStep(hidden.AsSpan(segments[i].FirstRow * h, segments[i].Length * h), logits.AsSpan(r * v, need * v), seconds);
            r += need;
        }
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

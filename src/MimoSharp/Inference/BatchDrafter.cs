using System.Diagnostics;
using MimoSharp.Model;

namespace MimoSharp.Inference;

/// <summary>
/// The draft half of a speculative step for every sequence of the step at once: depth by depth (a depth's token is
/// the next depth's input), one MTP pass over all sequences' catch-up rows and one lm_head product over their last
/// rows, so the MTP block and lm_head are read once per depth for the whole batch instead of once per sequence.
/// Each row is computed as it would be alone (the engine's batch invariance), so a sequence's drafts do not depend
/// on its neighbours. Sequences with another <see cref="IDraftSource"/> draft on their own.
/// </summary>
internal sealed class BatchDrafter(MimoModel model)
{
    // Reused from step to step, so that drafting allocates nothing.
    private readonly BatchLayout _layout = new();
    private readonly List<DecodeSequence> _drafting = [];
    private readonly List<SequenceCaches> _caches = [];
    private BatchLayout.Segment[] _segments = [];
    private int[] _ids = [];
    private float[] _hidden = [], _output = [], _last = [], _logits = [];

    /// <summary>The buffer, grown (contents kept: a depth's rows are appended sequence by sequence) to hold length.</summary>
    private static T[] Fit<T>(ref T[] buffer, int length)
    {
        if (buffer.Length < length) Array.Resize(ref buffer, Math.Max(length, buffer.Length * 2));
        return buffer;
    }

    /// <summary>
    /// Plans every sequence's drafts for this step (<see cref="DecodeSequence.PlanDrafts"/>; adaptive ones draft
    /// <paramref name="adaptiveDepth"/> deep) and adds them. Returns whether any MTP depth caught up on more positions
    /// than one step's tokens (after plain steps, a deeper step or a prefill: up to a sliding window of them), which
    /// makes the step's time more than its depth's steady cost.
    /// </summary>
    public bool Draft(IReadOnlyList<DecodeSequence> sequences, int adaptiveDepth)
    {
        int depths = 0;
        bool caughtUp = false;
        for (int i = 0; i < sequences.Count; i++) depths = Math.Max(depths, sequences[i].PlanDrafts(adaptiveDepth));
        int h = model.HiddenSize, v = model.VocabSize;
        for (int depth = 0; depth < depths; depth++)
        {
            long started = Stopwatch.GetTimestamp();
            _drafting.Clear();
            _caches.Clear();
            int rows = 0;
            for (int i = 0; i < sequences.Count; i++)
            {
                var s = sequences[i];
                if (s.PlannedDrafts <= depth) continue;
                if (s.Drafter is not MtpDrafter mtp)
                {
                    var own = Fit(ref _logits, v).AsSpan(0, v);
                    long t0 = Stopwatch.GetTimestamp();
                    s.Drafter!.DraftLogits(depth, s.CachedLength, s.Tokens, own);
                    s.AddDraft(depth, own, Stopwatch.GetElapsedTime(t0).TotalSeconds);
                    continue;
                }
                var pending = mtp.PrepareRows(depth, s.CachedLength, s.Tokens);
                caughtUp |= pending.Count > 2 * mtp.Depths + 2;   // a steady step re-runs at most this many (see PrepareRows)
                Fit(ref _segments, _drafting.Count + 1)[_drafting.Count] = new BatchLayout.Segment(rows, pending.Count, pending.Start);
                pending.Ids.CopyTo(Fit(ref _ids, rows + pending.Count).AsSpan(rows));
                pending.Hidden.CopyTo(Fit(ref _hidden, (rows + pending.Count) * h).AsSpan(rows * h));
                rows += pending.Count;
                _drafting.Add(s);
                _caches.Add(mtp.Caches);
            }
            if (_drafting.Count == 0) continue;
            var output = Fit(ref _output, rows * h);
            model.MtpForward(depth, _ids.AsSpan(0, rows), _hidden.AsSpan(0, rows * h),
                _layout.Set(_segments.AsSpan(0, _drafting.Count)), _caches, output.AsSpan(0, rows * h));
            // Logits of each sequence's last row only: the draft is the token after it.
            int n = _drafting.Count;
            var last = Fit(ref _last, n * h);
            for (int i = 0; i < n; i++)
            {
                var seg = _segments[i];
                output.AsSpan((seg.FirstRow + seg.Length - 1) * h, h).CopyTo(last.AsSpan(i * h, h));
                ((MtpDrafter)_drafting[i].Drafter!).CommitRows(depth);
            }
            var logits = Fit(ref _logits, n * v);
            model.MtpLogits(depth, last.AsSpan(0, n * h), n, logits.AsSpan(0, n * v));
            double seconds = Stopwatch.GetElapsedTime(started).TotalSeconds;
            for (int i = 0; i < n; i++) _drafting[i].AddDraft(depth, logits.AsSpan(i * v, v), seconds);
        }
        _drafting.Clear();   // no references kept to sequences that may finish before the next step
        _caches.Clear();
        return caughtUp;
    }
}

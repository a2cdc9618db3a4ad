using System.Diagnostics;
using MimoSharp.Model;

namespace MimoSharp.Inference;

/// <summary>
/// Advances several sequences by one step with ONE main-model forward pass: new sequences contribute their
/// whole prompt (prefill), running ones their pending token plus drafts (<see cref="BatchDrafter"/>, batched too). Sequences may join or leave between
/// steps (continuous batching); because every row is computed the same way whatever else is in the pass, a
/// sequence's tokens with a given seed do not depend on its neighbours.
/// </summary>
public sealed class BatchDecoder(MimoModel model)
{
    // Reused across steps so that decoding does not allocate per token.
    private float[] _hidden = [], _picked = [], _logits = [];
    private readonly BatchDrafter _drafter = new(model);

    public MimoModel Model => model;

    private static float[] Fit(ref float[] buffer, int length)
    {
        if (buffer.Length < length) buffer = new float[length];
        return buffer;
    }

    /// <summary>Runs one step for every unfinished sequence given; afterwards each one's <see cref="DecodeSequence.LastEmitted"/> holds its new tokens.</summary>
    public void Step(IReadOnlyList<DecodeSequence> sequences)
    {
        var active = new List<DecodeSequence>(sequences.Count);
        foreach (var s in sequences) if (!s.IsFinished) active.Add(s);
        if (active.Count == 0) return;

        // Drafts first (timed on their own, for the adaptive policy), then one main pass verifies every sequence's rows.
        _drafter.Draft(active);
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
    }
}

using MimoSharp.Model;

namespace MimoSharp.Inference;

/// <summary>
/// Drafts tokens with the MTP layers (spec §7 "Draft chain"). Depth k's cache entry at position j is
/// computed from the main hidden state h_j and token u_{j+k+1}; before drafting, each depth recomputes
/// entries whose token was a draft that has since been rejected, and catches up on accepted positions.
/// Main hidden states are kept for the last window + look-ahead positions only.
/// </summary>
public sealed class MtpDrafter : IDraftSource
{
    private readonly MimoModel _model;
    private readonly SequenceCaches _caches;
    private readonly List<int>[] _fed;
    private readonly float[] _hiddenRing;
    private readonly int _ringPositions;
    private int _hiddenCount;

    public int Depths => _fed.Length;

    public MtpDrafter(MimoModel model, SequenceCaches caches, int depths)
    {
        if (depths > model.MtpLayers.Count)
            throw new ArgumentOutOfRangeException(nameof(depths),
                $"speculative depth {depths} exceeds the {model.MtpLayers.Count} MTP layers of this checkpoint");
        _model = model;
        _caches = caches;
        _fed = Enumerable.Range(0, depths).Select(_ => new List<int>()).ToArray();
        _ringPositions = Math.Max(1, model.Config.SlidingWindow) + 2 * depths + 2;
        _hiddenRing = new float[_ringPositions * model.HiddenSize];
    }

    /// <summary>Records the main model's pre-norm hidden states of positions start, start+1, … (in order).</summary>
    public void ObserveHidden(int start, ReadOnlySpan<float> hidden, int count)
    {
        int h = _model.HiddenSize;
        if (start > _hiddenCount) throw new InvalidOperationException($"hidden state of position {_hiddenCount} was never observed");
        for (int i = 0; i < count; i++)
        {
            int p = start + i;
            hidden.Slice(i * h, h).CopyTo(_hiddenRing.AsSpan(p % _ringPositions * h, h));
        }
        _hiddenCount = start + count;
    }

    /// <summary>Forgets hidden states from position <paramref name="count"/> on (rejected verification rows).</summary>
    public void TruncateHidden(int count) => _hiddenCount = Math.Min(_hiddenCount, count);

    /// <summary>
    /// Logits of depth <paramref name="depth"/> at position n−1, where n is the main model's cached length
    /// (hidden states 0..n−1 observed) and <paramref name="tokens"/> holds u_0..u_{n+depth}.
    /// </summary>
    public void DraftLogits(int depth, int n, IReadOnlyList<int> tokens, Span<float> logits)
    {
        if (n < 1 || tokens.Count < n + depth + 1)
            throw new ArgumentException($"depth {depth} at position {n - 1} needs tokens up to index {n + depth}");
        if (_hiddenCount < n) throw new InvalidOperationException($"hidden states observed only up to {_hiddenCount}, need {n}");
        var cache = _caches.Mtp[depth];
        var fed = _fed[depth];
        int window = _model.Config.SlidingWindow, h = _model.HiddenSize;

        // Keep entries whose fused token is still the sequence's token; recompute from the first that is not.
        int valid = Math.Min(cache.Count, n);
        for (int j = Math.Max(cache.SkippedBelow, valid - 2 * Depths - 2); j < valid; j++)
            if (fed[j] != tokens[j + depth + 1]) { valid = j; break; }
        // Positions older than window (or than the kept hidden states) are never read again: skip them.
        int oldestNeeded = Math.Max(0, Math.Max(n - window, _hiddenCount - _ringPositions));
        if (valid < oldestNeeded)
        {
            cache.Clear();
            fed.Clear();
            cache.SkipTo(oldestNeeded);
            while (fed.Count < oldestNeeded) fed.Add(-1);
            valid = oldestNeeded;
        }
        else
        {
            cache.Truncate(valid);
            fed.RemoveRange(valid, fed.Count - valid);
        }

        int rows = n - valid;
        if (rows == 0)
            throw new InvalidOperationException($"depth {depth} already holds position {n - 1}; drafting it again needs a rollback");
        var ids = new int[rows];
        var hidden = new float[rows * h];
        for (int i = 0; i < rows; i++)
        {
            int j = valid + i;
            ids[i] = tokens[j + depth + 1];
            _hiddenRing.AsSpan(j % _ringPositions * h, h).CopyTo(hidden.AsSpan(i * h, h));
        }
        var output = new float[rows * h];
        _model.MtpForward(depth, ids, hidden, BatchLayout.Single(valid, rows), [_caches], output);
        fed.AddRange(ids);
        _model.MtpLogits(depth, output.AsSpan((rows - 1) * h, h), 1, logits);
    }
}

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
    // The rows of the draft in progress (PrepareRows → CommitRows), reused from step to step.
    private int[] _pendingIds = [];
    private float[] _pendingHidden = [];
    private int _pendingCount;
    // DraftLogits' pass (one sequence alone), reused so that drafting allocates nothing.
    private float[] _output = [];
    private readonly BatchLayout _layout = new();
    private readonly SequenceCaches[] _cachesList;

    public int Depths => _fed.Length;

    public MtpDrafter(MimoModel model, SequenceCaches caches, int depths)
    {
        if (depths > model.MtpLayers.Count)
            throw new ArgumentOutOfRangeException(nameof(depths),
                $"speculative depth {depths} exceeds the {model.MtpLayers.Count} MTP layers of this checkpoint");
        _model = model;
        _caches = caches;
        _cachesList = [caches];
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
        var rows = PrepareRows(depth, n, tokens);
        int h = _model.HiddenSize;
        if (_output.Length < rows.Count * h) _output = new float[rows.Count * h];
        _layout.Set([new BatchLayout.Segment(0, rows.Count, rows.Start)]);
        _model.MtpForward(depth, rows.Ids, rows.Hidden, _layout, _cachesList, _output.AsSpan(0, rows.Count * h));
        CommitRows(depth);
        _model.MtpLogits(depth, _output.AsSpan((rows.Count - 1) * h, h), 1, logits);
    }

    /// <summary>The rows depth k must run before it drafts: positions Start.., their fused tokens and main hidden states.</summary>
    internal readonly ref struct PendingRows(int start, ReadOnlySpan<int> ids, ReadOnlySpan<float> hidden)
    {
        public int Start { get; } = start;
        public int Count => Ids.Length;
        public ReadOnlySpan<int> Ids { get; } = ids;
        public ReadOnlySpan<float> Hidden { get; } = hidden;
    }

    /// <summary>The cache this drafter's depths write (one sequence's).</summary>
    internal SequenceCaches Caches => _caches;

    /// <summary>
    /// First half of a draft at depth <paramref name="depth"/> (see <see cref="DraftLogits"/>): rolls the depth's cache
    /// back to its first entry whose fused token is no longer the sequence's, and returns the rows to run from there
    /// (views of reused buffers, valid until the next call). After the MTP pass over them, <see cref="CommitRows"/>.
    /// </summary>
    internal PendingRows PrepareRows(int depth, int n, IReadOnlyList<int> tokens)
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
        if (_pendingIds.Length < rows)
        {
            _pendingIds = new int[rows];
            _pendingHidden = new float[rows * h];
        }
        for (int i = 0; i < rows; i++)
        {
            int j = valid + i;
            _pendingIds[i] = tokens[j + depth + 1];
            _hiddenRing.AsSpan(j % _ringPositions * h, h).CopyTo(_pendingHidden.AsSpan(i * h, h));
        }
        _pendingCount = rows;
        return new PendingRows(valid, _pendingIds.AsSpan(0, rows), _pendingHidden.AsSpan(0, rows * h));
    }

    /// <summary>Second half: the depth's cache now holds the rows <see cref="PrepareRows"/> returned.</summary>
    internal void CommitRows(int depth)
    {
        var fed = _fed[depth];
        for (int i = 0; i < _pendingCount; i++) fed.Add(_pendingIds[i]);
        _pendingCount = 0;
    }
}

namespace MimoSharp.Inference;

/// <summary>All KV caches of one sequence: one per main decoder layer and one per MTP depth.</summary>
public sealed class SequenceCaches(LayerKvCache[] main, LayerKvCache[] mtp)
{
    public LayerKvCache[] Main { get; } = main;
    public LayerKvCache[] Mtp { get; } = mtp;

    /// <summary>Positions the main model has cached (the next position to decode).</summary>
    public int Length => Main.Length > 0 ? Main[0].Count : 0;

    public void TruncateMain(int length)
    {
        foreach (var c in Main) c.Truncate(length);
    }

    public long AllocatedBytes => Main.Sum(c => c.AllocatedBytes) + Mtp.Sum(c => c.AllocatedBytes);
}

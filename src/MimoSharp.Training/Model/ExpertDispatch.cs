namespace MimoSharp.Training.Model;

/// <summary>
/// Where each routed slot goes for a grouped expert pass: the slots (token i's j-th choice is slot i·k + j) sorted by
/// expert, each expert's rows padded to a multiple of <see cref="Bucket"/>. Within an expert, rows keep token order.
/// Padding rows point at token <c>n</c> and slot <c>n·k</c>, one past the real ones, where the caller keeps a zero row
/// and a zero weight. Padding exists for oneDNN: it JIT-compiles a bf16 matmul kernel per distinct shape, and expert
/// token counts differ every step, so unpadded batches compiled ~470 new kernels per step; padded, the few shapes
/// repeat and come from its primitive cache.
/// </summary>
public sealed class ExpertDispatch(int experts, int bucket)
{
    private readonly int[] _fill = new int[experts];

    public int Experts { get; } = experts;
    public int Bucket { get; } = bucket;

    /// <summary>Slots routed to each expert (unpadded): the load.</summary>
    public long[] Counts { get; private set; } = new long[experts];

    /// <summary>First row of each expert's block.</summary>
    public int[] Offsets { get; } = new int[experts];

    /// <summary>Rows of each expert's block (its count rounded up to the bucket).</summary>
    public int[] Rows { get; } = new int[experts];

    /// <summary>Token of each row (every block padded); padding rows hold the token count n.</summary>
    public long[] TokenOfRow { get; private set; } = [];

    /// <summary>Slot of each row; padding rows hold the slot count n·k.</summary>
    public long[] SlotOfRow { get; private set; } = [];

    /// <summary>Plans the rows for <paramref name="expertOfSlot"/> ([n·k], token-major) with k choices per token.</summary>
    public void Plan(ReadOnlySpan<int> expertOfSlot, int k)
    {
        int slots = expertOfSlot.Length, tokens = slots / k;
        var counts = new long[Experts];   // a fresh array each step: LastLoad readers keep theirs
        foreach (int e in expertOfSlot)
        {
            if ((uint)e >= (uint)Experts) throw new ArgumentOutOfRangeException(nameof(expertOfSlot), $"expert {e} is outside 0..{Experts - 1}");
            counts[e]++;
        }
        int rows = 0;
        for (int e = 0; e < Experts; e++)
        {
            Offsets[e] = rows;
            Rows[e] = (int)((counts[e] + Bucket - 1) / Bucket * Bucket);
            rows += Rows[e];
        }
        // Fresh arrays (two per MoE layer and step): they become tensors, which copy them.
        var token = new long[rows];
        var slot = new long[rows];
        token.AsSpan().Fill(tokens);   // padding everywhere first; the real rows below fill each block's front
        slot.AsSpan().Fill(slots);
        Array.Copy(Offsets, _fill, Experts);
        for (int s = 0; s < slots; s++)
        {
            int row = _fill[expertOfSlot[s]]++;
            token[row] = s / k;
            slot[row] = s;
        }
        Counts = counts;
        TokenOfRow = token;
        SlotOfRow = slot;
    }
}

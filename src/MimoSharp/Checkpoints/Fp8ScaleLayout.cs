using System.Text.RegularExpressions;
using MimoSharp.Config;
using MimoSharp.Tensors;

namespace MimoSharp.Checkpoints;

/// <summary>How an FP8 matrix's block scales (<c>weight_scale_inv</c>) map onto its rows.</summary>
public enum Fp8ScaleLayout
{
    /// <summary>Not FP8: no scales.</summary>
    None,

    /// <summary>The plain grid: scale row r/128 for weight row r (spec §9).</summary>
    Grid,

    /// <summary>
    /// The released checkpoint's K|V layout: each KV head's K rows and V rows quantised together as one unit of
    /// head_dim + v_head_dim rows in 128-row blocks (<see cref="FusedKvScales"/>).
    /// </summary>
    PerHeadFusedKv,
}

/// <summary>
/// The public MiMo-V2-Flash FP8 release quantised <c>k_proj</c>/<c>v_proj</c> of its full-attention layers per KV head
/// as one fused K|V unit (fixtures README "The released FP8 layout", spec §9): for head h, unit rows 0..hd−1 are K's
/// rows and hd..hd+vd−1 are V's, cut into 128-row blocks; the first ceil(hd/128) blocks' scales are rows of the K
/// scale tensor, the rest rows of the V scale tensor — so V's first rows may share K's last scale row. The layout is
/// told apart from the plain grid by the K scale's row count alone, in any layer.
/// </summary>
public static partial class FusedKvScales
{
    /// <summary>The attention projection a tensor name belongs to: its layer prefix and whether it is K or V.</summary>
    [GeneratedRegex(@"^(model\.(?:(mtp)\.)?layers\.(\d+)\.self_attn\.)([kv])_proj\.weight$")]
    private static partial Regex KeyValueName();

    /// <summary>For <c>…self_attn.k_proj.weight</c>/<c>v_proj.weight</c>: the layer's attention shape and whether it is V.</summary>
    public static bool TryParse(string name, MimoConfig config, out AttentionShape shape, out string prefix, out bool isValue)
    {
        var m = KeyValueName().Match(name);
        shape = config.Swa;
        prefix = "";
        isValue = false;
        if (!m.Success) return false;
        prefix = m.Groups[1].Value;
        isValue = m.Groups[4].Value == "v";
        if (!m.Groups[2].Success)
        {
            int layer = int.Parse(m.Groups[3].Value, System.Globalization.CultureInfo.InvariantCulture);
            if (layer >= config.NumHiddenLayers) return false;
            shape = config.IsSlidingWindowLayer[layer] ? config.Swa : config.Global;
        }
        return true;
    }

    private static int Ceil(long a, int b) => (int)((a + b - 1) / b);

    /// <summary>
    /// Which layout the K scale's row count says (fixtures README): per-head when it equals kv_heads·ceil(hd/128) and
    /// that differs from the grid's ceil(kv_heads·hd/128); the grid when it equals the grid's count. Anything else is
    /// an error naming the tensor, its shape and both expected shapes.
    /// </summary>
    public static Fp8ScaleLayout Detect(TensorInfo kScale, AttentionShape shape, int blockRows, int blockCols, int cols)
    {
        long colBlocks = Ceil(cols, blockCols);
        int grid = Ceil((long)shape.NumKvHeads * shape.HeadDim, blockRows);
        int perHead = shape.NumKvHeads * Ceil(shape.HeadDim, blockRows);
        if (kScale.Shape.Length == 2 && kScale.Shape[1] == colBlocks)
        {
            if (kScale.Shape[0] == grid) return Fp8ScaleLayout.Grid;
            if (kScale.Shape[0] == perHead) return Fp8ScaleLayout.PerHeadFusedKv;
        }
        throw new CheckpointException(
            $"{kScale.File}: tensor {kScale.Name} has shape {kScale.ShapeText}, expected [{grid}, {colBlocks}] (the plain " +
            $"{blockRows}x{blockCols} grid) or [{perHead}, {colBlocks}] (per-KV-head fused K|V blocks of the released " +
            $"checkpoint) for {shape.NumKvHeads} KV heads of dim {shape.HeadDim}/{shape.VHeadDim}");
    }

    /// <summary>V scale rows per KV head in the fused layout: the unit's blocks after K's.</summary>
    public static int ValueScaleRowsPerHead(AttentionShape shape, int blockRows) =>
        Ceil(shape.HeadDim + shape.VHeadDim, blockRows) - Ceil(shape.HeadDim, blockRows);

    /// <summary>
    /// For each weight row of K (<paramref name="isValue"/> false) or V: whether its scale row is in the V scale
    /// tensor, and which row of that tensor, in the fused layout.
    /// </summary>
    public static (bool InValueScales, int Row)[] ScaleRows(AttentionShape shape, int blockRows, bool isValue)
    {
        int kBlocks = Ceil(shape.HeadDim, blockRows), vBlocks = ValueScaleRowsPerHead(shape, blockRows);
        int perHead = isValue ? shape.VHeadDim : shape.HeadDim;
        var map = new (bool, int)[shape.NumKvHeads * perHead];
        for (int h = 0; h < shape.NumKvHeads; h++)
            for (int i = 0; i < perHead; i++)
            {
                int block = ((isValue ? shape.HeadDim : 0) + i) / blockRows; // the row's block within its head's K|V unit
                map[h * perHead + i] = block < kBlocks ? (false, h * kBlocks + block) : (true, h * vBlocks + block - kBlocks);
            }
        return map;
    }

    /// <summary>
    /// An FP8 k_proj or v_proj whose K scale says the fused layout: its scale rows gathered from the K (and for V, the
    /// V) scale tensors, checked against the shapes the layout implies.
    /// </summary>
    internal static WeightMatrix Open(Checkpoint checkpoint, TensorInfo weight, string prefix, AttentionShape shape, bool isValue, int[] blockSize)
    {
        int cols = checked((int)weight.Shape[1]), colBlocks = Ceil(cols, blockSize[1]);
        int kRows = shape.NumKvHeads * Ceil(shape.HeadDim, blockSize[0]);
        int vRows = shape.NumKvHeads * ValueScaleRowsPerHead(shape, blockSize[0]);
        float[] Scales(string name, int rows)
        {
            var t = checkpoint.TryGet(name)
                    ?? throw new CheckpointException($"{checkpoint.Directory}: tensor {name} is missing (the fused K|V layout needs it)");
            if (t.DType != DType.F32)
                throw new CheckpointException($"{t.File}: tensor {name} has dtype {t.DType}, expected F32");
            if (t.Shape.Length != 2 || t.Shape[0] != rows || t.Shape[1] != colBlocks)
                throw new CheckpointException(
                    $"{t.File}: tensor {name} has shape {t.ShapeText}, expected [{rows}, {colBlocks}] (per-KV-head fused K|V blocks, " +
                    $"as {prefix}k_proj.weight_scale_inv's row count says)");
            return t.ToFloat32();
        }
        float[] k = Scales(prefix + "k_proj.weight_scale_inv", kRows);
        float[] all = isValue ? [.. k, .. Scales(prefix + "v_proj.weight_scale_inv", vRows)] : k;
        var rowsMap = ScaleRows(shape, blockSize[0], isValue);
        var map = new int[rowsMap.Length];
        for (int r = 0; r < map.Length; r++) map[r] = rowsMap[r].InValueScales ? kRows + rowsMap[r].Row : rowsMap[r].Row;
        return WeightMatrix.FromFp8ScaleRows(weight, blockSize, all, map);
    }
}

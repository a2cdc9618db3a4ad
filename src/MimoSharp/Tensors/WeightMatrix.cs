using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using MimoSharp.Checkpoints;

namespace MimoSharp.Tensors;

/// <summary>
/// A [rows, cols] weight kept in its stored format (F32, F16, BF16, or block-scaled FP8 e4m3),
/// read straight from the memory-mapped checkpoint, or with the same bits repacked at load into 16-row panels
/// (FP8 and BF16, <see cref="PackPanels"/>). Values are decoded to float32 inside the kernel, so a 300 GB FP8
/// checkpoint is never converted up front.
/// </summary>
public sealed unsafe class WeightMatrix
{
    private readonly byte* _data;
    private readonly float* _scales;
    private readonly int _blockRows, _blockCols, _scaleCols;

    /// <summary>FP8 only: each weight row's row of <see cref="_scales"/>, where the scales are not the plain grid (r / block rows).</summary>
    private readonly int[]? _scaleRowOf;

    private readonly object? _owned; // keeps the memory of a copy made at load (WeightArena) alive

    /// <summary>Whether the data is a read-only file mapping (from a checkpoint), whose pages can be dropped and re-read.</summary>
    private readonly bool _mapped;

    public string Name { get; }
    public int Rows { get; }
    public int Cols { get; }

    /// <summary>Dtype of the stored tensor this matrix was made from.</summary>
    public DType DType { get; }

    /// <summary>The layout the kernels read: the stored dtype, or a format quantised at load.</summary>
    public WeightFormat Format { get; }

    /// <summary>Bytes the kernel streams to use every row once (weights plus FP8 scales).</summary>
    public long StoredBytes { get; }

    /// <summary>How FP8 block scales map onto rows (<see cref="Fp8ScaleLayout.None"/> for other formats).</summary>
    public Fp8ScaleLayout ScaleLayout => _scales == null ? Fp8ScaleLayout.None : _scaleRowOf is null ? Fp8ScaleLayout.Grid : Fp8ScaleLayout.PerHeadFusedKv;

    /// <summary>Columns per FP8 scale block.</summary>
    internal int BlockCols => _blockCols;

    /// <summary>The FP8 block scales of row r, one per <see cref="BlockCols"/> columns.</summary>
    internal float* ScaleRow(int r) => _scales + (long)(_scaleRowOf is null ? r / _blockRows : _scaleRowOf[r]) * _scaleCols;

    /// <summary>The FP8 e4m3 bytes of row r, as stored (not for a matrix repacked into <see cref="Fp8Panel"/>s).</summary>
    internal byte* Fp8Row(int r) => _paneled ? throw new InvalidOperationException($"{Name} is in FP8 panels") : _data + (long)r * Cols;

    /// <summary>
    /// Whether the FP8 or BF16 values were repacked at load into panels of 16 rows (<see cref="Fp8Panel"/>,
    /// <see cref="Bf16Panel"/>), multiplied in float32 by the shared panel kernels.
    /// </summary>
    internal bool Paneled => _paneled;

    private readonly bool _paneled;

    /// <summary>The FP8 or BF16 panels (read by <see cref="Fp8Panel"/> and <see cref="Bf16Panel"/>).</summary>
    internal byte* PanelData => _paneled ? _data : throw new InvalidOperationException($"{Name} is not in panels");

    private int[]? _fp8NanRows;
    private bool _fp8NanScanned;
    private object? _fp8NanLock;

    /// <summary>
    /// FP8 only: the rows holding an e4m3 NaN code (0x7F/0xFF), ascending; found by one scan at the first product
    /// rather than in every one (the kernel's shift decoding reads a NaN code as a finite number, and a released
    /// checkpoint has none, so the per-product check would double the bytes read for nothing).
    /// </summary>
    internal int[] Fp8NanRows => LazyInitializer.EnsureInitialized(ref _fp8NanRows, ref _fp8NanScanned, ref _fp8NanLock, () =>
    {
        var rows = new List<int>();
        for (int r = 0; r < Rows; r++)
            if (Fp8E4M3.HasNaN(new ReadOnlySpan<byte>(Fp8Row(r), Cols))) rows.Add(r);
        return rows.ToArray();
    })!;

    private WeightMatrix(string name, int rows, int cols, DType dtype, byte* data, float* scales,
        int blockRows, int blockCols, int scaleCols, long storedBytes, WeightFormat? format = null, object? owned = null, bool mapped = false,
        int[]? scaleRowOf = null, bool paneled = false, int[]? fp8NanRows = null)
    {
        Name = name; Rows = rows; Cols = cols; DType = dtype; _data = data; _scales = scales; _scaleRowOf = scaleRowOf;
        _paneled = paneled;
        if (fp8NanRows is not null)
        {
            _fp8NanRows = fp8NanRows;
            _fp8NanScanned = true;
        }
        _blockRows = blockRows; _blockCols = blockCols; _scaleCols = scaleCols; StoredBytes = storedBytes;
        Format = format ?? dtype switch
        {
            DType.F32 => WeightFormat.F32,
            DType.F16 => WeightFormat.F16,
            DType.BF16 => WeightFormat.BF16,
            _ => WeightFormat.Fp8Block,
        };
        _owned = owned;
        _mapped = mapped;
    }

    /// <summary>A copy of this matrix quantised to <paramref name="format"/> (ggml's quantiser), kept in panel layout.</summary>
    public WeightMatrix Quantize(WeightFormat format)
    {
        if (format == Format) return this;
        if (format is not (WeightFormat.Q8_0 or WeightFormat.Q4_K))
            throw new ArgumentException($"cannot quantise {Name} to {format}: only q8_0 and q4_k are supported at load");
        var packed = Pack(Name, Rows, Cols, DType, format, (scratch, r) =>
        {
            var row = Row(r, scratch.Floats);
            if (format == WeightFormat.Q8_0) Q8_0.QuantizeRow(row, scratch.Blocks);
            else Q4_K.QuantizeRow(row, scratch.Blocks);
            return scratch.Blocks;
        });
        ReleaseMappedPages();
        return packed;
    }

    /// <summary>
    /// This FP8 or BF16 matrix with its values repacked into panels of 16 rows (<see cref="Fp8Panel"/>,
    /// <see cref="Bf16Panel"/>: the same bits in new places), the file's pages dropped after; itself for other formats,
    /// and for FP8 where a panel's rows would not share one row of block scales (block heights that are not multiples of
    /// 16), which keeps the row-by-row kernel (<see cref="Fp8Block"/>).
    /// </summary>
    public WeightMatrix PackPanels()
    {
        if (_paneled) return this;
        if (Format == WeightFormat.BF16) return PackBf16Panels();
        if (Format != WeightFormat.Fp8Block) return this;
        for (int r = 0; r < Rows; r++)
            if (ScaleRow(r) != ScaleRow(r / Fp8Panel.Rows * Fp8Panel.Rows)) return this;
        long bytes = Fp8Panel.Bytes(Rows, Cols);
        byte* memory = WeightArena.Allocate(bytes, out object arena);
        var nanRows = Fp8NanRows;
        FloatPanel<Fp8Panel.Format>.PackRows(_data, Rows, Cols, memory);
        // The scales move into managed memory too (a fused-layout matrix has its copy already), so that no page of the
        // file stays needed.
        object scaleOwner;
        float* scales = _scales;
        long scaleCount = (StoredBytes - (long)Rows * Cols) / sizeof(float);
        if (_scaleRowOf is null)
        {
            var copy = GC.AllocateUninitializedArray<float>(checked((int)scaleCount), pinned: true);
            new ReadOnlySpan<float>(_scales, copy.Length).CopyTo(copy);
            fixed (float* p = copy) scales = p;
            scaleOwner = copy;
        }
        else
        {
            scaleOwner = _owned!;
        }
        ReleaseMappedPages();
        return new WeightMatrix(Name, Rows, Cols, DType, memory, scales, _blockRows, _blockCols, _scaleCols, bytes + 4 * scaleCount,
            owned: new[] { arena, scaleOwner }, scaleRowOf: _scaleRowOf, paneled: true, fp8NanRows: nanRows);
    }

    private WeightMatrix PackBf16Panels()
    {
        long bytes = Bf16Panel.Bytes(Rows, Cols);
        byte* memory = WeightArena.Allocate(bytes, out object arena);
        FloatPanel<Bf16Panel.Format>.PackRows((ushort*)_data, Rows, Cols, memory);
        ReleaseMappedPages();
        return new WeightMatrix(Name, Rows, Cols, DType, memory, null, 0, 0, 0, bytes, owned: arena, paneled: true);
    }

    /// <summary>After a copy was made at load, the stored weights are not read again: drop their pages from the resident set.</summary>
    private void ReleaseMappedPages()
    {
        if (!_mapped) return;
        long dataBytes = _scales == null ? StoredBytes : (long)Rows * Cols; // FP8: one byte a value, then the scales
        MappedFile.Release(_data, dataBytes);
        if (_scales != null && _scaleRowOf is null) MappedFile.Release((byte*)_scales, StoredBytes - dataBytes); // fused-layout scales are a managed copy
    }

    /// <summary>ggml's bytes per row of a block format.</summary>
    private static int BlockRowBytes(WeightFormat format, int cols) => format switch
    {
        WeightFormat.Q8_0 => Q8_0.RowBytes(cols),
        WeightFormat.Q4_K => Q4_K.RowBytes(cols),
        WeightFormat.Q5_K => Q5_K.RowBytes(cols),
        _ => Q6_K.RowBytes(cols),
    };

    /// <summary>Scratch for producing one ggml row: a float row to decode into and the row's blocks.</summary>
    private sealed class RowScratch(int cols, WeightFormat format)
    {
        public float[] Floats { get; } = new float[cols];
        public byte[] Blocks { get; } = new byte[BlockRowBytes(format, cols)];
    }

    private delegate ReadOnlySpan<byte> BlockRowSource(RowScratch scratch, int r);

    /// <summary>
    /// Builds a Q8_0 or Q4_K matrix in panel layout (<see cref="Q8_0Panel"/>, <see cref="Q4_KPanel"/>) from rows given
    /// one at a time in ggml's block layout, a run of whole panels per job so threads never share a panel.
    /// </summary>
    private static WeightMatrix Pack(string name, int rows, int cols, DType dtype, WeightFormat format, BlockRowSource rowAt, string? file = null)
    {
        string where = file is null ? name : $"{name} in {file}";
        bool q8 = format == WeightFormat.Q8_0;
        int blocks = q8 ? Q8_0Panel.Blocks(cols) : Q4_K.Blocks(cols), panels = Q8_0Panel.Panels(rows);
        long size = q8 ? Q8_0Panel.Bytes(rows, cols) : Q4_KPanel.Bytes(rows, cols);
        if (size > int.MaxValue)
            throw new CheckpointException($"tensor {where} ({rows}x{cols}) needs {size} bytes as {format} panels; one matrix is limited to 2 GiB");
        int bytes = (int)size;
        byte* memory = WeightArena.Allocate(bytes, out object owner);
        nint address = (nint)memory;
        int jobs = Math.Min(panels, 64), per = (panels + jobs - 1) / jobs;
        ComputePool.For(jobs, job =>
        {
            var scratch = new RowScratch(cols, format);
            var packed = new Span<byte>((byte*)address, bytes);
            for (int r = job * per * Q8_0Panel.Rows; r < Math.Min(rows, (job + 1) * per * Q8_0Panel.Rows); r++)
            {
                var row = rowAt(scratch, r);
                CheckScales(where, format, row, r);
                if (q8) Q8_0Panel.PackRow(row, r, packed, blocks);
                else Q4_KPanel.PackRow(row, r, packed, blocks);
            }
        });
        return new WeightMatrix(name, rows, cols, dtype, memory, null, 0, 0, 0, bytes, format, owner);
    }

    /// <summary>
    /// A block scale that is not finite (a corrupt file, or NaN/∞ among the weights quantised at load) is refused: the
    /// panels read scales without a conversion instruction, so it would otherwise compute as a finite wrong value.
    /// </summary>
    private static void CheckScales(string name, WeightFormat format, ReadOnlySpan<byte> row, int r)
    {
        int blockBytes = format switch
        {
            WeightFormat.Q8_0 => Q8_0.BlockBytes,
            WeightFormat.Q4_K => Q4_K.BlockBytes,
            WeightFormat.Q5_K => Q5_K.BlockBytes,
            _ => Q6_K.BlockBytes,
        };
        // Where each format keeps its f16 scales: d (and dmin) first, except Q6_K's d last.
        int first = format == WeightFormat.Q6_K ? 208 : 0, count = format is WeightFormat.Q4_K or WeightFormat.Q5_K ? 2 : 1;
        for (int b = 0; b < row.Length / blockBytes; b++)
            for (int k = 0; k < count; k++)
            {
                Half h = MemoryMarshal.Read<Half>(row[(b * blockBytes + first + 2 * k)..]);
                if (!Half.IsFinite(h))
                    throw new CheckpointException($"tensor {name}: row {r}, block {b} has a non-finite {(k == 0 ? "scale" : "min scale")} ({h}): corrupt weights?");
            }
    }

    /// <summary>Wraps weights stored in a ggml block format (Q8_0 or Q4_K rows, e.g. from a GGUF file), repacked into panels.</summary>
    internal static WeightMatrix FromBlocks(TensorInfo weight, WeightFormat format)
    {
        if (weight.Shape.Length != 2)
            throw new CheckpointException($"{weight.File}: tensor {weight.Name} has shape {weight.ShapeText}, expected a matrix");
        int rows = checked((int)weight.Shape[0]), cols = checked((int)weight.Shape[1]);
        if (format is not (WeightFormat.Q8_0 or WeightFormat.Q4_K or WeightFormat.Q5_K or WeightFormat.Q6_K))
            throw new CheckpointException($"{weight.File}: tensor {weight.Name} is {format}, which has no block kernel");
        int rowBytes = BlockRowBytes(format, cols);
        long expected = (long)rowBytes * rows;
        if (weight.ByteLength != expected)
            throw new CheckpointException($"{weight.File}: tensor {weight.Name} ({format} {rows}x{cols}) has {weight.ByteLength} bytes, expected {expected}");
        byte* stored = weight.Data;
        if (format is WeightFormat.Q5_K or WeightFormat.Q6_K) // computed as stored, row by row: no copy
        {
            for (int r = 0; r < rows; r++) CheckScales($"{weight.Name} in {weight.File}", format, new ReadOnlySpan<byte>(stored + (long)r * rowBytes, rowBytes), r);
            return new WeightMatrix(weight.Name, rows, cols, weight.DType, weight.Data, null, 0, 0, 0, weight.ByteLength, format, mapped: weight.Mapped);
        }
        var packed = Pack(weight.Name, rows, cols, weight.DType, format, (_, r) => new ReadOnlySpan<byte>(stored + (long)r * rowBytes, rowBytes), weight.File);
        if (weight.Mapped) MappedFile.Release(stored, weight.ByteLength);
        return packed;
    }

    /// <summary>Row r of a block-format matrix in ggml's block layout (copied out of its panel, or as stored).</summary>
    public void CopyBlockRow(int r, Span<byte> blocks)
    {
        if ((uint)r >= (uint)Rows) throw new ArgumentOutOfRangeException(nameof(r));
        if (Format is WeightFormat.Q5_K or WeightFormat.Q6_K)
        {
            StoredRow(r).CopyTo(blocks);
            return;
        }
        var all = new ReadOnlySpan<byte>(Panels, checked((int)StoredBytes));
        if (Format == WeightFormat.Q8_0) Q8_0Panel.UnpackRow(all, r, Q8_0Panel.Blocks(Cols), blocks);
        else Q4_KPanel.UnpackRow(all, r, Q4_K.Blocks(Cols), blocks);
    }

    /// <summary>Row r of a Q5_K or Q6_K matrix, as stored.</summary>
    internal ReadOnlySpan<byte> StoredRow(int r)
    {
        if (Format is not (WeightFormat.Q5_K or WeightFormat.Q6_K)) throw new InvalidOperationException($"{Name} is {Format}, not stored in ggml blocks");
        int rowBytes = BlockRowBytes(Format, Cols);
        return new ReadOnlySpan<byte>(_data + (long)r * rowBytes, rowBytes);
    }

    /// <summary>The panel layout of a Q8_0 or Q4_K matrix (read by the kernels).</summary>
    internal byte* Panels => Format is WeightFormat.Q8_0 or WeightFormat.Q4_K ? _data
        : throw new InvalidOperationException($"{Name} is {Format}, not a block format");

    /// <summary>
    /// Wraps a stored tensor. The format follows the tensor's stored dtype, never its name:
    /// F8_E4M3 needs its <c>_scale_inv</c> sibling and the config's block size.
    /// </summary>
    public static WeightMatrix From(TensorInfo weight, TensorInfo? scaleInv, int[]? blockSize)
    {
        if (weight.BlockFormat is WeightFormat blocks) return FromBlocks(weight, blocks);
        if (weight.Shape.Length != 2)
            throw new CheckpointException($"{weight.File}: tensor {weight.Name} has shape {weight.ShapeText}, expected a matrix");
        int rows = checked((int)weight.Shape[0]), cols = checked((int)weight.Shape[1]);
        switch (weight.DType)
        {
            case DType.F32:
            case DType.F16:
            case DType.BF16:
                return new WeightMatrix(weight.Name, rows, cols, weight.DType, weight.Data, null, 0, 0, 0, weight.ByteLength, mapped: weight.Mapped);
            case DType.F8_E4M3:
                var (br, bc) = Fp8BlockSize(weight, scaleInv, blockSize);
                long sr = (rows + br - 1) / br, sc = (cols + bc - 1) / bc;
                if (scaleInv!.Shape.Length != 2 || scaleInv.Shape[0] != sr || scaleInv.Shape[1] != sc)
                    throw new CheckpointException(
                        $"{scaleInv.File}: tensor {scaleInv.Name} has shape {scaleInv.ShapeText}, expected [{sr}, {sc}] (ceil of {rows}x{cols} / {br}x{bc} blocks)");
                return new WeightMatrix(weight.Name, rows, cols, DType.F8_E4M3, weight.Data, (float*)scaleInv.Data, br, bc, (int)sc,
                    weight.ByteLength + scaleInv.ByteLength, mapped: weight.Mapped && scaleInv.Mapped);
            default:
                throw new CheckpointException(
                    $"{weight.File}: tensor {weight.Name} has dtype {weight.DType}, expected F32, F16, BF16 or F8_E4M3");
        }
    }

    /// <summary>The config's FP8 block size, after checking that an F8_E4M3 weight has an F32 scale tensor.</summary>
    private static (int Rows, int Cols) Fp8BlockSize(TensorInfo weight, TensorInfo? scaleInv, int[]? blockSize)
    {
        if (scaleInv is null)
            throw new CheckpointException($"{weight.File}: tensor {weight.Name} is F8_E4M3 but {weight.Name}_scale_inv is missing");
        if (blockSize is null)
            throw new CheckpointException($"{weight.File}: tensor {weight.Name} is F8_E4M3 but config.json has no quantization_config.weight_block_size");
        if (scaleInv.DType != DType.F32)
            throw new CheckpointException($"{scaleInv.File}: tensor {scaleInv.Name} has dtype {scaleInv.DType}, expected F32");
        return (blockSize[0], blockSize[1]);
    }

    /// <summary>
    /// Wraps an FP8 matrix whose rows take their scales from <paramref name="scaleRows"/> (a [k, ceil(cols/block)] copy)
    /// through <paramref name="scaleRowOf"/>: the released checkpoint's fused K|V layout (<see cref="FusedKvScales"/>).
    /// </summary>
    internal static WeightMatrix FromFp8ScaleRows(TensorInfo weight, int[] blockSize, float[] scaleRows, int[] scaleRowOf)
    {
        int rows = checked((int)weight.Shape[0]), cols = checked((int)weight.Shape[1]);
        int scaleCols = (cols + blockSize[1] - 1) / blockSize[1];
        if (scaleRowOf.Length != rows || scaleRows.Length % scaleCols != 0)
            throw new ArgumentException($"{weight.Name}: a scale row map of {scaleRowOf.Length} rows over {scaleRows.Length} scales does not fit {rows}x{cols}");
        var pinned = GC.AllocateUninitializedArray<float>(scaleRows.Length, pinned: true);
        scaleRows.CopyTo(pinned, 0);
        fixed (float* scales = pinned)
            return new WeightMatrix(weight.Name, rows, cols, DType.F8_E4M3, weight.Data, scales, blockSize[0], blockSize[1], scaleCols,
                weight.ByteLength + 4L * scaleRows.Length, owned: pinned, mapped: weight.Mapped, scaleRowOf: scaleRowOf);
    }

    /// <summary>
    /// Wraps FP8 e4m3 bytes [rows, cols] and their F32 scales [ceil(rows/blockRows), ceil(cols/blockCols)] owned by the
    /// caller (pinned for the matrix's lifetime), in the plain grid layout.
    /// </summary>
    public static WeightMatrix FromPinnedFp8(string name, byte* data, float* scales, int rows, int cols, int blockRows = 128, int blockCols = 128)
    {
        int scaleCols = (cols + blockCols - 1) / blockCols;
        long scaleBytes = 4L * ((rows + blockRows - 1) / blockRows) * scaleCols;
        return new(name, rows, cols, DType.F8_E4M3, data, scales, blockRows, blockCols, scaleCols, (long)rows * cols + scaleBytes);
    }

    /// <summary>Wraps float32 data owned by the caller (pinned for the matrix's lifetime).</summary>
    public static WeightMatrix FromPinned(string name, float* data, int rows, int cols) =>
        new(name, rows, cols, DType.F32, (byte*)data, null, 0, 0, 0, (long)rows * cols * 4);

    /// <summary>Wraps bfloat16 data owned by the caller (pinned for the matrix's lifetime).</summary>
    public static WeightMatrix FromPinnedBf16(string name, ushort* data, int rows, int cols) =>
        new(name, rows, cols, DType.BF16, (byte*)data, null, 0, 0, 0, (long)rows * cols * 2);

    /// <summary>Row r of a BF16 matrix, undecoded.</summary>
    public ReadOnlySpan<ushort> Bf16Row(int r)
    {
        if (Format != WeightFormat.BF16) throw new InvalidOperationException($"{Name} is {DType}, not BF16");
        if (_paneled) throw new InvalidOperationException($"{Name} is in BF16 panels");
        if ((uint)r >= (uint)Rows) throw new ArgumentOutOfRangeException(nameof(r));
        return new ReadOnlySpan<ushort>((ushort*)_data + (long)r * Cols, Cols);
    }

    /// <summary>Row r as float32: a view for F32 weights, otherwise decoded into <paramref name="scratch"/>.</summary>
    public ReadOnlySpan<float> Row(int r, Span<float> scratch)
    {
        if ((uint)r >= (uint)Rows) throw new ArgumentOutOfRangeException(nameof(r));
        switch (Format)
        {
            case WeightFormat.F32:
                return new ReadOnlySpan<float>((float*)_data + (long)r * Cols, Cols);
            case WeightFormat.Q5_K:
                Q5_K.DequantizeRow(StoredRow(r), scratch[..Cols]);
                return scratch[..Cols];
            case WeightFormat.Q6_K:
                Q6_K.DequantizeRow(StoredRow(r), scratch[..Cols]);
                return scratch[..Cols];
            case WeightFormat.Q8_0:
            case WeightFormat.Q4_K:
                var blocks = new byte[BlockRowBytes(Format, Cols)];
                CopyBlockRow(r, blocks);
                if (Format == WeightFormat.Q8_0) Q8_0.DequantizeRow(blocks, scratch[..Cols]);
                else Q4_K.DequantizeRow(blocks, scratch[..Cols]);
                return scratch[..Cols];
            case WeightFormat.BF16 when _paneled:
                var bits = new ushort[Cols];
                Bf16Panel.UnpackRow(_data, r, Cols, bits);
                HalfFloats.Decode(bits, scratch, HalfFormat.BF16);
                return scratch[..Cols];
            case WeightFormat.BF16:
                HalfFloats.Decode(new ReadOnlySpan<ushort>((ushort*)_data + (long)r * Cols, Cols), scratch, HalfFormat.BF16);
                return scratch[..Cols];
            case WeightFormat.F16:
                HalfFloats.Decode(new ReadOnlySpan<ushort>((ushort*)_data + (long)r * Cols, Cols), scratch, HalfFormat.F16);
                return scratch[..Cols];
            default:
                DecodeFp8Row(r, scratch);
                return scratch[..Cols];
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void DecodeFp8Row(int r, Span<float> dst)
    {
        ReadOnlySpan<byte> row;
        if (_paneled)
        {
            var unpacked = new byte[Cols];
            Fp8Panel.UnpackRow(_data, r, Cols, unpacked);
            row = unpacked;
        }
        else
        {
            row = new ReadOnlySpan<byte>(_data + (long)r * Cols, Cols);
        }
        float* scaleRow = ScaleRow(r);
        for (int b = 0, c0 = 0; c0 < Cols; b++, c0 += _blockCols)
        {
            int length = Math.Min(_blockCols, Cols - c0);
            Fp8E4M3.DecodeScaled(row.Slice(c0, length), scaleRow[b], dst.Slice(c0, length));
        }
    }
}

/// <summary>Weight layouts the kernels read.</summary>
public enum WeightFormat
{
    F32,
    F16,
    BF16,

    /// <summary>FP8 e4m3 with a float32 scale per [rows × cols] block, as stored in the official checkpoint.</summary>
    Fp8Block,

    /// <summary>ggml Q8_0, quantised at load.</summary>
    Q8_0,

    /// <summary>ggml Q4_K (256-value super-blocks), quantised at load or read from GGUF.</summary>
    Q4_K,

    /// <summary>ggml Q5_K (256-value super-blocks), read as stored from GGUF files.</summary>
    Q5_K,

    /// <summary>ggml Q6_K (256-value super-blocks), read as stored from GGUF files.</summary>
    Q6_K,
}

using System.Runtime.InteropServices;
using System.Text.Json;
using MimoSharp.Config;
using MimoSharp.Tensors;

namespace MimoSharp.Checkpoints;

/// <summary>Options of <see cref="GgufExport.Write"/>.</summary>
public sealed record GgufExportOptions
{
    /// <summary>Type of the linear weights; null keeps each matrix's stored float type (FP8 becomes BF16).</summary>
    public GgmlType? Matrices { get; init; }

    /// <summary>general.name; defaults to the model folder's name.</summary>
    public string? Name { get; init; }

    /// <summary>Receives one line per notable decision (fallback types, llama.cpp caveats).</summary>
    public Action<string>? Log { get; init; }
}

/// <summary>What <see cref="GgufExport.Write"/> wrote.</summary>
public sealed record GgufExportResult(int Tensors, long Bytes, IReadOnlyDictionary<GgmlType, int> TensorsByType, IReadOnlyList<string> Warnings);

/// <summary>
/// Converts a checkpoint to a llama.cpp-readable GGUF of architecture <c>mimo2</c> (see <see cref="GgufMimo2"/>).
/// Linear weights take the requested type; a matrix whose rows do not fill whole blocks of it falls back
/// (Q4_K → Q8_0 → the float type). As llama.cpp's tools do, the router and the token embedding are never
/// block-quantised, and 1-D tensors (norms, sinks, the router bias) are F32. The same rules keep our own
/// loader's results equal to quantising the safetensors at load: a Q8_0/Q4_K export run by MimoSharp gives
/// the same logits as <c>--quant q8_0/q4_k</c> on the original folder wherever no fallback was needed.
/// </summary>
public static class GgufExport
{
    public static GgufExportResult Write(Checkpoint checkpoint, int mtpLayers, string path, GgufExportOptions? options = null)
    {
        options ??= new GgufExportOptions();
        var cfg = checkpoint.Config;
        var warnings = new List<string>();
        void Warn(string message)
        {
            warnings.Add(message);
            options.Log?.Invoke("warning: " + message);
        }

        CheckRepresentable(cfg, checkpoint.Directory);
        if (!cfg.NormTopkProb)
            Warn("norm_topk_prob is false, but llama.cpp's mimo2 always renormalises the chosen experts' weights; llama.cpp's outputs will differ from ours");
        if (cfg.RoutedScalingFactor != 1.0)
            Warn($"routed_scaling_factor is {cfg.RoutedScalingFactor}; it is stored as mimo2.expert_weights_scale, which llama.cpp's mimo2 ignores");

        int layers = cfg.NumHiddenLayers, blocks = layers + mtpLayers;
        var w = new GgufWriter();
        var matrixType = options.Matrices;
        bool quantized = matrixType is GgmlType.Q8_0 or GgmlType.Q4_K;

        w.AddString("general.architecture", GgufMimo2.Architecture);
        w.AddString("general.type", "model");
        w.AddString("general.name", options.Name ?? new DirectoryInfo(checkpoint.Directory).Name);
        w.AddUInt32("general.file_type", Gguf.FileType(matrixType ?? DominantFloatType(checkpoint)));
        if (quantized) w.AddUInt32("general.quantization_version", 2);
        AddArchitecture(w, cfg, mtpLayers);
        GgufTokenizer.Add(w, cfg, TokenizerDirectory(checkpoint), options.Log);

        var byType = new Dictionary<GgmlType, int>();
        void Count(GgmlType t) => byType[t] = byType.GetValueOrDefault(t) + 1;

        void Vector(string hub, string gguf)
        {
            var t = checkpoint.Get(hub);
            if (t.Shape.Length != 1) throw new CheckpointException($"{t.File}: tensor {hub} has shape {t.ShapeText}, expected a vector");
            float[] values = t.ToFloat32();
            Count(GgmlType.F32);
            w.AddTensor(gguf, [values.Length], GgmlType.F32, s => s.Write(MemoryMarshal.AsBytes(values.AsSpan())));
        }

        GgmlType TypeFor(WeightMatrix m, bool quantizable)
        {
            var floatType = FloatTypeOf(m);
            var want = matrixType ?? floatType;
            if (!quantizable && want is GgmlType.Q8_0 or GgmlType.Q4_K) want = floatType;
            if (want == GgmlType.Q4_K && !Gguf.FitsRow(GgmlType.Q4_K, m.Cols))
            {
                Warn($"{m.Name}: rows of {m.Cols} values do not fill Q4_K's 256-value blocks; written as Q8_0");
                want = GgmlType.Q8_0;
            }
            if (want == GgmlType.Q8_0 && !Gguf.FitsRow(GgmlType.Q8_0, m.Cols))
            {
                Warn($"{m.Name}: rows of {m.Cols} values do not fill Q8_0's 32-value blocks; written as {floatType}");
                want = floatType;
            }
            return want;
        }

        WeightMatrix Source(string hub) => checkpoint.Matrix(hub);

        void Matrix(string hub, string gguf, bool quantizable = true)
        {
            var m = Source(hub);
            var type = TypeFor(m, quantizable);
            Count(type);
            w.AddTensor(gguf, [m.Cols, m.Rows], type, s => WriteRows(s, m, type));
        }

        void Write(GgufMimo2.TensorName n, string hub, string gguf)
        {
            if (n.Kind == GgufMimo2.Kind.Vector) Vector(hub, gguf);
            else Matrix(hub, gguf, quantizable: n.Kind == GgufMimo2.Kind.Matrix);
        }

        foreach (var n in GgufMimo2.GlobalNames) Write(n, n.Hub, n.Gguf);
        for (int b = 0; b < blocks; b++)
        {
            bool mtp = b >= layers;
            var kind = mtp ? GgufMimo2.Blocks.Mtp : cfg.IsMoeLayer[b] ? GgufMimo2.Blocks.MoeLayers : GgufMimo2.Blocks.DenseLayers;
            string prefix = GgufMimo2.HubPrefix(b, layers);
            foreach (var n in GgufMimo2.BlockNames)
            {
                if ((n.In & kind) == 0 || n.Optional && !checkpoint.Contains(prefix + n.Hub)) continue;
                if (n.Kind != GgufMimo2.Kind.Experts)
                {
                    Write(n, prefix + n.Hub, $"blk.{b}.{n.Gguf}");
                    continue;
                }
                var experts = Enumerable.Range(0, cfg.NRoutedExperts).Select(e => Source(prefix + n.OfExpert(e))).ToArray();
                var type = TypeFor(experts[0], quantizable: true);
                Count(type);
                w.AddTensor($"blk.{b}.{n.Gguf}", [experts[0].Cols, experts[0].Rows, experts.Length], type, s =>
                {
                    foreach (var m in experts) WriteRows(s, m, type);
                });
            }
        }

        w.Write(path);
        return new GgufExportResult(byType.Values.Sum(), new FileInfo(path).Length, byType, warnings);
    }

    /// <summary>Folder to look for tokenizer.json in (none for a checkpoint that is itself a file).</summary>
    private static string? TokenizerDirectory(Checkpoint c) => Directory.Exists(c.Directory) ? c.Directory : null;

    /// <summary>llama.cpp keeps one head dim for every layer of mimo2; a model that differs cannot be written.</summary>
    private static void CheckRepresentable(MimoConfig cfg, string source)
    {
        if (cfg.Swa.HeadDim != cfg.Global.HeadDim || cfg.Swa.VHeadDim != cfg.Global.VHeadDim)
            throw new MimoConfigException(source, "swa_head_dim",
                $"llama.cpp's mimo2 has one head dim for all layers, but head_dim/v_head_dim are {cfg.Global.HeadDim}/{cfg.Global.VHeadDim} " +
                $"and swa_head_dim/swa_v_head_dim are {cfg.Swa.HeadDim}/{cfg.Swa.VHeadDim}");
        if (cfg.RotaryDim(cfg.Swa) != cfg.RotaryDim(cfg.Global))
            throw new MimoConfigException(source, "partial_rotary_factor", "llama.cpp's mimo2 has one rotary dimension for all layers");
    }

    private static void AddArchitecture(GgufWriter w, MimoConfig cfg, int mtpLayers)
    {
        string K(string name) => GgufMimo2.Key(name);
        int layers = cfg.NumHiddenLayers, blocks = layers + mtpLayers;
        bool Swa(int b) => b >= layers || cfg.IsSlidingWindowLayer[b];
        int[] PerBlock(Func<AttentionShape, int> of) => Enumerable.Range(0, blocks).Select(b => of(Swa(b) ? cfg.Swa : cfg.Global)).ToArray();

        w.AddUInt32(K("vocab_size"), cfg.VocabSize);
        w.AddUInt32(K("context_length"), cfg.MaxPositionEmbeddings);
        w.AddUInt32(K("embedding_length"), cfg.HiddenSize);
        w.AddUInt32(K("block_count"), blocks);
        w.AddUInt32(K("feed_forward_length"), cfg.IntermediateSize);
        if (cfg.Swa.NumHeads == cfg.Global.NumHeads) w.AddUInt32(K("attention.head_count"), cfg.Global.NumHeads);
        else w.AddArray(K("attention.head_count"), GgufValueType.Int32, PerBlock(s => s.NumHeads));
        w.AddArray(K("attention.head_count_kv"), GgufValueType.Int32, PerBlock(s => s.NumKvHeads));
        w.AddUInt32(K("attention.key_length"), cfg.Global.HeadDim);
        w.AddUInt32(K("attention.value_length"), cfg.Global.VHeadDim);
        w.AddFloat32(K("attention.layer_norm_rms_epsilon"), cfg.RmsNormEps);
        w.AddUInt32(K("rope.dimension_count"), cfg.RotaryDim(cfg.Global));
        w.AddFloat32(K("rope.freq_base"), cfg.Global.RopeTheta);
        w.AddFloat32(K("rope.freq_base_swa"), cfg.Swa.RopeTheta);
        w.AddUInt32(K("attention.sliding_window"), cfg.SlidingWindow);
        w.AddArray(K("attention.sliding_window_pattern"), GgufValueType.Int32, Enumerable.Range(0, blocks).Select(b => Swa(b) ? 1 : 0).ToArray());
        if (cfg.AttentionValueScale != 1.0) w.AddFloat32(K("attention.value_scale"), cfg.AttentionValueScale);
        w.AddUInt32(K("expert_feed_forward_length"), cfg.MoeIntermediateSize); // required by llama.cpp even without MoE layers
        if (cfg.IsMoeLayer.Any(x => x))
        {
            w.AddUInt32(K("expert_count"), cfg.NRoutedExperts);
            w.AddUInt32(K("expert_used_count"), cfg.NumExpertsPerTok);
            if (cfg.NGroup > 1)
            {
                w.AddUInt32(K("expert_group_count"), cfg.NGroup);
                w.AddUInt32(K("expert_group_used_count"), cfg.TopkGroup);
            }
            w.AddBool(K("expert_weights_norm"), cfg.NormTopkProb);
            if (cfg.RoutedScalingFactor != 1.0) w.AddFloat32(K("expert_weights_scale"), cfg.RoutedScalingFactor);
            w.AddUInt32(K("expert_gating_func"), 2); // sigmoid
        }
        w.AddUInt32(K("nextn_predict_layers"), mtpLayers);
    }

    /// <summary>The float type a matrix keeps when it is not block-quantised: F32 and F16 stay, BF16 and FP8 become BF16.</summary>
    private static GgmlType FloatTypeOf(WeightMatrix m) => m.Format switch
    {
        WeightFormat.F32 => GgmlType.F32,
        WeightFormat.F16 => GgmlType.F16,
        _ => GgmlType.BF16,
    };

    private static GgmlType DominantFloatType(Checkpoint c)
    {
        var t = c.Get("lm_head.weight");
        return t.DType switch
        {
            DType.F32 => GgmlType.F32,
            DType.F16 => GgmlType.F16,
            _ => GgmlType.BF16,
        };
    }

    /// <summary>Writes every row of <paramref name="m"/> in <paramref name="type"/>, converting in parallel chunks of rows.</summary>
    private static unsafe void WriteRows(Stream s, WeightMatrix m, GgmlType type)
    {
        int rowBytes = checked((int)Gguf.RowBytes(type, m.Cols));
        int chunkRows = Math.Max(1, Math.Min(m.Rows, (8 << 20) / Math.Max(1, rowBytes)));
        var buffer = new byte[(long)chunkRows * rowBytes];
        for (int r0 = 0; r0 < m.Rows; r0 += chunkRows)
        {
            int n = Math.Min(chunkRows, m.Rows - r0);
            int tasks = Math.Min(n, 16);
            int per = (n + tasks - 1) / tasks;
            ComputePool.For(tasks, task =>
            {
                var scratch = new float[m.Cols];
                for (int i = task * per; i < Math.Min(n, (task + 1) * per); i++)
                    EncodeRow(m, r0 + i, type, scratch, buffer.AsSpan(i * rowBytes, rowBytes));
            });
            s.Write(buffer, 0, n * rowBytes);
        }
    }

    private static void EncodeRow(WeightMatrix m, int r, GgmlType type, float[] scratch, Span<byte> dst)
    {
        // Same format in and out: copy the stored bits.
        if (type == GgmlType.BF16 && m.Format == WeightFormat.BF16)
        {
            MemoryMarshal.AsBytes(m.Bf16Row(r)).CopyTo(dst);
            return;
        }
        if ((type, m.Format) is (GgmlType.Q8_0, WeightFormat.Q8_0) or (GgmlType.Q4_K, WeightFormat.Q4_K))
        {
            m.CopyBlockRow(r, dst);
            return;
        }
        var row = m.Row(r, scratch);
        switch (type)
        {
            case GgmlType.F32:
                MemoryMarshal.AsBytes(row).CopyTo(dst);
                break;
            case GgmlType.F16:
                var h = MemoryMarshal.Cast<byte, Half>(dst);
                for (int i = 0; i < row.Length; i++) h[i] = (Half)row[i];
                break;
            case GgmlType.BF16:
                var b = MemoryMarshal.Cast<byte, ushort>(dst);
                for (int i = 0; i < row.Length; i++) b[i] = BFloat16.FromFloat(row[i]);
                break;
            case GgmlType.Q8_0:
                Q8_0.QuantizeRow(row, dst);
                break;
            case GgmlType.Q4_K:
                Q4_K.QuantizeRow(row, dst);
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(type), type, "cannot write this type");
        }
    }

    /// <summary>The names of the export types (<c>mimo convert --quant</c>); auto (null) keeps each matrix's stored float type.</summary>
    public static OrderedDictionary<string, GgmlType?> Types { get; } = new()
    {
        ["auto"] = null,
        ["f32"] = GgmlType.F32,
        ["f16"] = GgmlType.F16,
        ["bf16"] = GgmlType.BF16,
        ["q8_0"] = GgmlType.Q8_0,
        ["q4_k"] = GgmlType.Q4_K,
        ["q4_k_m"] = GgmlType.Q4_K,
    };

    /// <summary>Parses a --quant value for export (any case; empty means auto).</summary>
    public static GgmlType? ParseType(string? text) =>
        string.IsNullOrEmpty(text) ? null
        : Types.TryGetValue(text.ToLowerInvariant(), out var type) ? type
        : throw new ArgumentException($"--quant \"{text}\" is not a GGUF export type: use {string.Join(", ", Types.Keys)}");

    internal static JsonSerializerOptions Indented { get; } = new() { WriteIndented = true };
}

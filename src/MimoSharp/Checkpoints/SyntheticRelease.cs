using System.Text.Json;
using System.Text.Json.Nodes;
using MimoSharp.Config;
using MimoSharp.Tensors;

namespace MimoSharp.Checkpoints;

/// <summary>
/// Writes a random checkpoint laid out as the public MiMo-V2-Flash FP8 release is: the release's tensor list and
/// dtypes (FP8 e4m3 projections and experts with F32 128×128 block scales, every <c>o_proj</c> BF16 and listed in
/// <c>quantization_config.ignored_layers</c>, BF16 embeddings, lm_head, norms, sinks and <c>eh_proj</c>, F32 router
/// weights and correction biases), the per-KV-head fused K|V scale layout in full-attention layers
/// (<see cref="FusedKvScales"/>), shards with <c>model.safetensors.index.json</c>, and the release's config keys
/// (<c>auto_map</c>, no MTP-count key). Real dimensions by default, with a chosen number of layers, experts and
/// vocabulary, so the loading path and FP8 speed can be measured on the real shapes without 310 GB.
/// </summary>
public static class SyntheticRelease
{
    /// <summary>MiMo-V2-Flash's config (spec §1) with <paramref name="layers"/> main layers, <paramref name="experts"/> experts and a chosen vocabulary.</summary>
    public static JsonObject Config(int layers = 48, int experts = 256, int vocab = 152576, int hidden = 4096,
        int intermediate = 16384, int moeIntermediate = 2048, int heads = 64)
    {
        var cfg = SyntheticCheckpoint.Config(hidden, layers, experts, topK: Math.Min(8, experts), moeIntermediate, vocab,
            heads, headDim: 192, vHeadDim: 128, window: 128, denseIntermediate: intermediate);
        cfg["num_key_value_heads"] = 4;
        cfg["swa_num_key_value_heads"] = 8;
        cfg["attention_chunk_size"] = 128;
        cfg["max_position_embeddings"] = 262144;
        cfg["auto_map"] = new JsonObject
        {
            ["AutoConfig"] = "configuration_mimo_v2_flash.MiMoV2FlashConfig",
            ["AutoModel"] = "modeling_mimo_v2_flash.MiMoV2FlashModel",
            ["AutoModelForCausalLM"] = "modeling_mimo_v2_flash.MiMoV2FlashForCausalLM",
        };
        return cfg;
    }

    /// <summary>
    /// Writes config.json, the shards (each at most about <paramref name="shardBytes"/>) and the index. With
    /// <paramref name="dequantisedTwin"/>, also writes the same weights dequantised to F32 in the plain layout there
    /// (the FP8 values times their scales, computed here from the scales each row was written with).
    /// </summary>
    public static void Write(string directory, JsonObject config, int mtpLayers, int seed = 0, long shardBytes = 1L << 30,
        string? dequantisedTwin = null, IProgress<string>? progress = null)
    {
        var cfg = MimoConfig.Parse(config, "synthetic release config");
        var rng = new Random(seed);
        int h = cfg.HiddenSize;
        int[] block = [128, 128]; // the release's weight_block_size
        var ignored = new JsonArray();
        var shards = new ShardedWriter(directory, shardBytes);
        var twin = dequantisedTwin is null ? null : new SafetensorsWriter();

        void Bf16(string name, long[] shape, Func<int, float> value)
        {
            long count = shape.Aggregate(1L, (a, b) => a * b);
            var bytes = new byte[count * 2];
            var dst = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, ushort>(bytes.AsSpan());
            var f32 = twin is null ? null : new float[count];
            for (long i = 0; i < count; i++)
            {
                dst[(int)i] = BFloat16.FromFloat(value(rng.Next()));
                if (f32 is not null) f32[i] = BitConverter.Int32BitsToSingle(dst[(int)i] << 16);
            }
            shards.Add(name, DType.BF16, shape, bytes);
            twin?.AddF32(name, shape, f32);
        }
        void F32(string name, long[] shape, Func<int, float> value)
        {
            long count = shape.Aggregate(1L, (a, b) => a * b);
            var values = new float[count];
            for (long i = 0; i < count; i++) values[i] = value(rng.Next());
            shards.Add(name, DType.F32, shape, System.Runtime.InteropServices.MemoryMarshal.AsBytes(values.AsSpan()).ToArray());
            twin?.AddF32(name, shape, values);
        }
        float Uniform(int r, float amplitude) => (float)((r / (double)int.MaxValue) * 2 - 1) * amplitude;
        void Dense(string name, int rows, int cols) => Bf16(name, [rows, cols], r => Uniform(r, 1.7f / MathF.Sqrt(cols)));
        void Norm(string name) => Bf16(name, [h], r => 1f + Uniform(r, 0.1f));

        // FP8: random e4m3 codes (never the NaN codes) under per-block scales that vary, so a scale read from the wrong
        // block changes the numbers. scaleOf(row, colBlock) is where row r's scale is written.
        void Fp8(string name, int rows, int cols, Func<int, int, (float[] Scales, int Index)> scaleOf)
        {
            var data = new byte[(long)rows * cols];
            rng.NextBytes(data);
            for (long i = 0; i < data.LongLength; i++)
                if ((data[i] & 0x7F) == 0x7F) data[i] ^= 0x01; // 0x7F/0xFF are NaN
            shards.Add(name, DType.F8_E4M3, [rows, cols], data);
            if (twin is null) return;
            var values = new float[(long)rows * cols];
            for (int r = 0; r < rows; r++)
                for (int c = 0; c < cols; c++)
                {
                    var (scales, index) = scaleOf(r, c / block[1]);
                    values[(long)r * cols + c] = Fp8E4M3.ToFloat(data[(long)r * cols + c]) * scales[index];
                }
            twin.AddF32(name, [rows, cols], values);
        }
        float[] Scales(int rows, int colBlocks, int cols)
        {
            var s = new float[rows * colBlocks];
            // Weights of magnitude ~1.7/sqrt(cols): e4m3 codes reach 448; each block gets its own scale within ±50%.
            for (int i = 0; i < s.Length; i++) s[i] = 1.7f / MathF.Sqrt(cols) / 448f * (1f + Uniform(rng.Next(), 0.5f));
            return s;
        }
        void AddScales(string name, float[] s, int colBlocks) =>
            shards.Add(name, DType.F32, [s.Length / colBlocks, colBlocks], System.Runtime.InteropServices.MemoryMarshal.AsBytes(s.AsSpan()).ToArray());
        void Grid(string name, int rows, int cols)
        {
            int br = block[0], colBlocks = (cols + block[1] - 1) / block[1];
            var s = Scales((rows + br - 1) / br, colBlocks, cols);
            Fp8(name, rows, cols, (r, cb) => (s, r / br * colBlocks + cb));
            AddScales(name + "_scale_inv", s, colBlocks);
        }
        // The release's fused K|V layout, written from the definition: head h's unit is its K rows then its V rows,
        // cut into 128-row blocks; K's blocks have scale rows in k_scale, the rest in v_scale.
        void FusedKv(string p, AttentionShape a)
        {
            int br = block[0], colBlocks = (h + block[1] - 1) / block[1];
            int unitBlocks = (a.HeadDim + a.VHeadDim + br - 1) / br, kBlocks = (a.HeadDim + br - 1) / br;
            float[] ks = Scales(a.NumKvHeads * kBlocks, colBlocks, h), vs = Scales(a.NumKvHeads * (unitBlocks - kBlocks), colBlocks, h);
            (float[], int) ScaleOfUnitRow(int head, int unitRow, int cb)
            {
                int block = unitRow / br;
                return block < kBlocks ? (ks, (head * kBlocks + block) * colBlocks + cb) : (vs, (head * (unitBlocks - kBlocks) + block - kBlocks) * colBlocks + cb);
            }
            Fp8(p + "k_proj.weight", a.NumKvHeads * a.HeadDim, h, (r, cb) => ScaleOfUnitRow(r / a.HeadDim, r % a.HeadDim, cb));
            AddScales(p + "k_proj.weight_scale_inv", ks, colBlocks);
            Fp8(p + "v_proj.weight", a.NumKvHeads * a.VHeadDim, h, (r, cb) => ScaleOfUnitRow(r / a.VHeadDim, a.HeadDim + r % a.VHeadDim, cb));
            AddScales(p + "v_proj.weight_scale_inv", vs, colBlocks);
        }
        void Attention(string p, AttentionShape a, bool fusedKv)
        {
            Grid(p + "q_proj.weight", a.NumHeads * a.HeadDim, h);
            if (fusedKv) FusedKv(p, a);
            else
            {
                Grid(p + "k_proj.weight", a.NumKvHeads * a.HeadDim, h);
                Grid(p + "v_proj.weight", a.NumKvHeads * a.VHeadDim, h);
            }
            Dense(p + "o_proj.weight", h, a.NumHeads * a.VHeadDim);
            ignored.Add(p + "o_proj");
            if (a.HasSink) Bf16(p + "attention_sink_bias", [a.NumHeads], r => Uniform(r, 1f));
        }
        void Mlp(string p, int inter)
        {
            Grid(p + "gate_proj.weight", inter, h);
            Grid(p + "up_proj.weight", inter, h);
            Grid(p + "down_proj.weight", h, inter);
        }

        Dense("model.embed_tokens.weight", cfg.VocabSize, h);
        for (int i = 0; i < cfg.NumHiddenLayers; i++)
        {
            string p = $"model.layers.{i}.";
            progress?.Report($"layer {i + 1}/{cfg.NumHiddenLayers}");
            Norm(p + "input_layernorm.weight");
            Attention(p + "self_attn.", cfg.IsSlidingWindowLayer[i] ? cfg.Swa : cfg.Global, fusedKv: !cfg.IsSlidingWindowLayer[i]);
            Norm(p + "post_attention_layernorm.weight");
            if (cfg.IsMoeLayer[i])
            {
                F32(p + "mlp.gate.weight", [cfg.NRoutedExperts, h], r => Uniform(r, 1.7f / MathF.Sqrt(h)));
                F32(p + "mlp.gate.e_score_correction_bias", [cfg.NRoutedExperts], r => Uniform(r, 0.01f));
                for (int e = 0; e < cfg.NRoutedExperts; e++) Mlp($"{p}mlp.experts.{e}.", cfg.MoeIntermediateSize);
            }
            else Mlp(p + "mlp.", cfg.IntermediateSize);
        }
        Norm("model.norm.weight");
        Dense("lm_head.weight", cfg.VocabSize, h);
        for (int k = 0; k < mtpLayers; k++)
        {
            string p = $"model.mtp.layers.{k}.";
            progress?.Report($"MTP layer {k + 1}/{mtpLayers}");
            Norm(p + "enorm.weight");
            Norm(p + "hnorm.weight");
            Dense(p + "eh_proj.weight", h, 2 * h);
            Norm(p + "input_layernorm.weight");
            Attention(p + "self_attn.", cfg.Swa, fusedKv: false);
            Norm(p + "pre_mlp_layernorm.weight");
            Mlp(p + "mlp.", cfg.IntermediateSize);
            Norm(p + "final_layernorm.weight");
        }

        var json = config.DeepClone().AsObject();
        json["torch_dtype"] = "bfloat16";
        var options = new JsonSerializerOptions { WriteIndented = true };
        if (twin is not null)
        {
            Directory.CreateDirectory(dequantisedTwin!);
            File.WriteAllText(Path.Combine(dequantisedTwin!, "config.json"), json.ToJsonString(options));
            twin.Write(Path.Combine(dequantisedTwin!, Checkpoint.SingleFileName));
        }
        json["quantization_config"] = new JsonObject
        {
            ["activation_scheme"] = "dynamic",
            ["fmt"] = "e4m3",
            ["quant_method"] = "fp8",
            ["weight_block_size"] = new JsonArray(block[0], block[1]),
            ["ignored_layers"] = ignored,
            ["packed_modules_mapping"] = new JsonObject(),
        };
        shards.Finish();
        File.WriteAllText(Path.Combine(directory, "config.json"), json.ToJsonString(options));
    }

    /// <summary>Collects tensors into shards of about a given size, then names them model-0000i-of-0000N and writes the index.</summary>
    private sealed class ShardedWriter(string directory, long shardBytes)
    {
        private readonly List<(string Name, DType DType, long[] Shape, byte[] Data)> _pending = [];
        private readonly List<string> _written = [];
        private readonly Dictionary<string, int> _shardOf = new(StringComparer.Ordinal);
        private long _pendingBytes, _totalBytes;

        public void Add(string name, DType dtype, long[] shape, byte[] data)
        {
            if (_pendingBytes > 0 && _pendingBytes + data.LongLength > shardBytes) Flush();
            _pending.Add((name, dtype, shape, data));
            _pendingBytes += data.LongLength;
            _totalBytes += data.LongLength;
        }

        private void Flush()
        {
            if (_pending.Count == 0) return;
            Directory.CreateDirectory(directory);
            var w = new SafetensorsWriter().AddMetadata("format", "pt");
            foreach (var t in _pending)
            {
                w.Add(t.Name, t.DType, t.Shape, t.Data);
                _shardOf[t.Name] = _written.Count;
            }
            string path = Path.Combine(directory, $".shard-{_written.Count}.safetensors");
            w.Write(path);
            _written.Add(path);
            _pending.Clear();
            _pendingBytes = 0;
        }

        public void Finish()
        {
            Flush();
            int n = _written.Count;
            string Final(int i) => $"model-{i + 1:D5}-of-{n:D5}.safetensors";
            for (int i = 0; i < n; i++) File.Move(_written[i], Path.Combine(directory, Final(i)), overwrite: true);
            var map = new JsonObject();
            foreach (var (name, shard) in _shardOf.OrderBy(p => p.Key, StringComparer.Ordinal)) map[name] = Final(shard);
            var index = new JsonObject { ["metadata"] = new JsonObject { ["total_size"] = _totalBytes }, ["weight_map"] = map };
            File.WriteAllText(Path.Combine(directory, Checkpoint.IndexFileName), index.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
        }
    }
}

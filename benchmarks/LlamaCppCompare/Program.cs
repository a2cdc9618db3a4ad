// Runs the same GGUF weights in MimoSharp and in llama.cpp (LLamaSharp 0.30.0, CPU backend) in one process.
//
//   logits --model DIR|FILE.gguf|synthetic-dense|synthetic-moe [--quant auto|f32|f16|bf16|q8_0|q4_k] [--tokens 1,2,3] [--threads N]
//       Teacher-forced logits of both engines (llama.cpp with flash attention off and an F32 KV cache),
//       the gap per position, and each engine's gap to the folder's expected.safetensors when it has one.
//       synthetic-dense is a small random model without MoE layers (rows of 256 values, so every Q4_K
//       tensor stays Q4_K): quantised formats compare without the expert-choice flips that tiny random
//       routers make at their 1e-4 gaps; synthetic-moe is the same with MoE layers.
//       --ours OTHER.gguf runs our engine on another file (e.g. the same weights dequantised to F32).
//   bench --model DIR|FILE.gguf [--quant q8_0] [--prompt 32] [--gen 64] [--repeat 5] [--threads N]
//       Greedy decoding speed of both engines, runs alternating, medians and the ratio.
//   context --model FILE.gguf [--prompt 8192] [--gen 64] [--threads N] [--batch 512] [--flash-attn auto|on|off]
//       llama.cpp alone at a long prompt (scripts/bench-llamacpp-context.sh runs `mimo bench --plain` beside it): a
//       context of prompt + gen, the sliding-window layers' cache at window + batch (swa_full off), prompts fed
//       --batch tokens per llama_decode, flash attention (unless --flash-attn) and KV type at llama.cpp's defaults. The prompt is the
//       random one `mimo bench` draws (same seed). A 64-token warm-up, one measured run, one line of JSON.
//
// A model folder is first written as GGUF (to a temporary file) with `--quant`; both engines then load that file.
// Random models of MiMo's proportions come from benchmarks/RandomModel (50m, 400m, 2b); never commit them.
using System.Diagnostics;
using MimoSharp.Checkpoints;
using MimoSharp.Inference;
using MimoSharp.Model;
using MimoSharp.Tensors;

if (args.Length < 1 || args[0] is not ("logits" or "bench" or "context"))
{
    Console.Error.WriteLine("usage: LlamaCppCompare (logits|bench|context) --model DIR|FILE.gguf [options]; see the comment at the top of Program.cs");
    return 2;
}
var opts = Options.Parse(args.Skip(1).ToArray());
int threads = opts.Int("threads", Environment.ProcessorCount);
ComputePool.Threads = threads;
string model = opts.Get("model") ?? throw new ArgumentException("--model is required");
string? temp = null, synthetic = null;
string gguf = model;
try
{
    if (model is "synthetic-dense" or "synthetic-moe")
    {
        synthetic = model = Path.Combine(Path.GetTempPath(), $"llamacpp-compare-{Environment.ProcessId}-model");
        var config = SyntheticCheckpoint.Config(hidden: 256, layers: 4, experts: 8, topK: 2, moeIntermediate: 256, vocab: 512,
            heads: 4, headDim: 96, vHeadDim: 64, window: 8, denseIntermediate: 512);
        if (opts.Get("model") == "synthetic-dense")
            config["moe_layer_freq"] = new System.Text.Json.Nodes.JsonArray(0, 0, 0, 0);
        SyntheticCheckpoint.Write(model, config, mtpLayers: 1, seed: 5);
    }
    if (!GgufCheckpoint.IsGgufPath(model))
    {
        temp = Path.Combine(Path.GetTempPath(), $"llamacpp-compare-{Environment.ProcessId}.gguf");
        var type = GgufExport.ParseType(opts.Get("quant") ?? (args[0] == "bench" ? "q8_0" : "auto"));
        var clock = Stopwatch.StartNew();
        using (var checkpoint = Checkpoint.Open(model))
            GgufExport.Write(checkpoint, MimoModel.CountMtpLayers(checkpoint), temp, new GgufExportOptions { Matrices = type });
        Console.WriteLine($"wrote {model} as GGUF ({type?.ToString() ?? "stored types"}, {new FileInfo(temp).Length / 1048576.0:F1} MiB) in {clock.Elapsed.TotalSeconds:F1} s");
        gguf = temp;
    }
    return args[0] switch
    {
        "logits" => Compare.Logits(model, gguf, opts, threads),
        "bench" => Compare.Bench(gguf, opts, threads),
        _ => Compare.Context(gguf, opts, threads),
    };
}
finally
{
    if (temp is not null) File.Delete(temp);
    if (synthetic is not null) Directory.Delete(synthetic, recursive: true);
}

internal static class Compare
{
    public static int Logits(string model, string gguf, Options opts, int threads)
    {
        string expectedPath = Path.Combine(model, "expected.safetensors");
        int[] ids = opts.Get("tokens") is string t ? t.Split(',').Select(int.Parse).ToArray()
            : File.Exists(expectedPath) ? ReadInputIds(Path.Combine(model, "expected.json"))
            : Enumerable.Range(0, 32).Select(i => (i * 7919 + 13) % 500).ToArray();

        using var ours = MimoModel.Load(opts.Get("ours") ?? gguf);
        int v = ours.VocabSize, n = ids.Length;
        var mine = TeacherForcing.Run(ours, ids).Logits;
        float[] theirs;
        using (var llama = new LlamaCpp(gguf, Math.Max(64, (n + 63) / 64 * 64), threads, exact: true))
        {
            if (llama.VocabSize != v) throw new InvalidOperationException($"llama.cpp sees {llama.VocabSize} tokens, we see {v}");
            theirs = llama.Logits(ids);
        }
        double[]? expected = null;
        if (File.Exists(expectedPath) && GgufCheckpoint.IsGgufPath(gguf) && gguf != model)
        {
            using var e = SafetensorsFile.Open(expectedPath);
            expected = e.Tensors["logits"].ToFloat64();
        }

        Console.WriteLine($"{n} tokens, vocab {v}, llama.cpp: flash attention off, F32 KV cache, {threads} threads");
        Console.WriteLine(expected is null ? "pos  max|ours-llama|  argmax(ours,llama)"
                                           : "pos  max|ours-llama|  argmax(ours,llama)  max|ours-expected|  max|llama-expected|");
        double worst = 0;
        int agree = 0;
        for (int p = 0; p < n; p++)
        {
            var a = mine.AsSpan(p * v, v);
            var b = theirs.AsSpan(p * v, v);
            double gap = 0;
            for (int i = 0; i < v; i++) gap = Math.Max(gap, Math.Abs(a[i] - b[i]));
            worst = Math.Max(worst, gap);
            int am = ArgMax(a), bm = ArgMax(b);
            if (am == bm) agree++;
            string line = $"{p,3}  {gap,14:E3}  {am,6} {bm,6}";
            if (expected is not null)
            {
                double ge = 0, gl = 0;
                for (int i = 0; i < v; i++)
                {
                    ge = Math.Max(ge, Math.Abs(a[i] - expected[p * v + i]));
                    gl = Math.Max(gl, Math.Abs(b[i] - expected[p * v + i]));
                }
                line += $"  {ge,17:E3}  {gl,18:E3}";
            }
            Console.WriteLine(line);
        }
        Console.WriteLine($"max |ours - llama.cpp| over all positions: {worst:E3}; argmax agrees at {agree}/{n} positions");
        return 0;
    }

    public static int Bench(string gguf, Options opts, int threads)
    {
        int promptLength = opts.Int("prompt", 32), gen = opts.Int("gen", 64), reps = opts.Int("repeat", 5);
        using var ours = MimoModel.Load(gguf);
        var rng = new Random(1234);
        int[] prompt = Enumerable.Range(0, promptLength).Select(_ => rng.Next(ours.VocabSize)).ToArray();
        using var llama = new LlamaCpp(gguf, Math.Max(256, (promptLength + gen + 63) / 64 * 64), threads, exact: false);

        Run Ours()
        {
            var g = new Generator(ours, new GenerationOptions { MaxTokens = gen });
            var tokens = g.Generate(prompt).ToArray();
            return new Run(tokens, g.Stats.PrefillSeconds, g.Stats.DecodeSeconds);
        }
        Run Llama()
        {
            var (tokens, prefill, decode) = llama.Greedy(prompt, gen);
            return new Run(tokens, prefill, decode);
        }

        Console.WriteLine($"{Path.GetFileName(gguf)}: prompt {promptLength}, {gen} greedy tokens, {threads} threads, {reps} alternating runs " +
                          "(llama.cpp with its defaults: flash attention auto, F16 KV cache)");
        Ours();
        Llama(); // warm-up: page the weights in for both
        var ourDecode = new List<double>();
        var llamaDecode = new List<double>();
        var ourPrefill = new List<double>();
        var llamaPrefill = new List<double>();
        int sameTokens = 0;
        for (int r = 0; r < reps; r++)
        {
            Run a, b;
            if (r % 2 == 0)
            {
                a = Ours();
                b = Llama();
            }
            else
            {
                b = Llama();
                a = Ours();
            }
            ourDecode.Add((gen - 1) / a.Decode);
            llamaDecode.Add((gen - 1) / b.Decode);
            ourPrefill.Add(promptLength / a.Prefill);
            llamaPrefill.Add(promptLength / b.Prefill);
            sameTokens = a.Tokens.Zip(b.Tokens).TakeWhile(x => x.First == x.Second).Count();
            Console.WriteLine($"  run {r + 1}: decode ours {ourDecode[^1],8:F1} tok/s, llama.cpp {llamaDecode[^1],8:F1} tok/s; " +
                              $"prefill ours {ourPrefill[^1],8:F1} tok/s, llama.cpp {llamaPrefill[^1],8:F1} tok/s");
        }
        double od = Median(ourDecode), ld = Median(llamaDecode), op = Median(ourPrefill), lp = Median(llamaPrefill);
        Console.WriteLine($"decode  (median): MimoSharp {od:F1} tok/s, llama.cpp {ld:F1} tok/s, ratio ours/llama.cpp {od / ld:F2}");
        Console.WriteLine($"prefill (median): MimoSharp {op:F1} tok/s, llama.cpp {lp:F1} tok/s, ratio ours/llama.cpp {op / lp:F2}");
        Console.WriteLine($"greedy tokens identical for the first {sameTokens} of {gen}");
        return 0;
    }

    public static int Context(string gguf, Options opts, int threads)
    {
        int promptLength = opts.Int("prompt", 8192), gen = opts.Int("gen", 64), batchSize = opts.Int("batch", 512);
        if (promptLength < 64 || gen < 2) throw new ArgumentException("--prompt must be ≥ 64 and --gen ≥ 2");
        int contextSize = (promptLength + gen + 255) / 256 * 256; // llama.cpp pads its cache to 256 cells
        bool? flash = opts.Get("flash-attn") switch
        {
            null or "auto" => null,
            "on" => true,
            "off" => false,
            var other => throw new ArgumentException($"--flash-attn must be auto, on or off, got \"{other}\""),
        };
        using var llama = new LlamaCpp(gguf, contextSize, threads, exact: false, batchSize: batchSize, swaFull: false, flashAttention: flash);
        // The prompt `mimo bench` draws for the same length: same generator, seed and vocabulary.
        var rng = new Random(1234);
        int[] prompt = Enumerable.Range(0, promptLength).Select(_ => rng.Next(llama.VocabSize)).ToArray();
        llama.Greedy(prompt[..64], 8); // warm-up: pages the weights in
        var (tokens, prefill, decode) = llama.Greedy(prompt, gen);
        Console.WriteLine(System.Text.Json.JsonSerializer.Serialize(new
        {
            engine = "llama.cpp",
            model = Path.GetFileName(gguf),
            prompt_tokens = promptLength,
            decode_tokens = gen,
            threads,
            context_size = contextSize,
            batch_size = batchSize,
            swa_full = false,
            prefill_tokens_per_s = promptLength / prefill,
            decode_tokens_per_s = (gen - 1) / decode,
            kv_buffer_bytes = LlamaCppLog.KvBufferBytes,
            peak_rss_bytes = Process.GetCurrentProcess().PeakWorkingSet64,
            flash_attention = string.Join("; ", LlamaCppLog.FlashAttention),
            tokens,
        }));
        return 0;
    }

    private readonly record struct Run(int[] Tokens, double Prefill, double Decode);

    private static double Median(List<double> xs)
    {
        var s = xs.Order().ToArray();
        return s.Length % 2 == 1 ? s[s.Length / 2] : (s[s.Length / 2 - 1] + s[s.Length / 2]) / 2;
    }

    private static int ArgMax(ReadOnlySpan<float> x)
    {
        int best = 0;
        for (int i = 1; i < x.Length; i++) if (x[i] > x[best]) best = i;
        return best;
    }

    private static int[] ReadInputIds(string expectedJson)
    {
        using var doc = System.Text.Json.JsonDocument.Parse(File.ReadAllBytes(expectedJson));
        return doc.RootElement.GetProperty("input_ids").EnumerateArray().Select(x => x.GetInt32()).ToArray();
    }
}

internal sealed class Options
{
    private readonly Dictionary<string, string> _values = new();

    public static Options Parse(string[] args)
    {
        var o = new Options();
        for (int i = 0; i < args.Length; i++)
        {
            if (!args[i].StartsWith("--") || i + 1 >= args.Length) throw new ArgumentException($"expected --name value, got \"{args[i]}\"");
            o._values[args[i][2..]] = args[++i];
        }
        return o;
    }

    public string? Get(string name) => _values.GetValueOrDefault(name);

    public int Int(string name, int fallback) => _values.TryGetValue(name, out var v) ? int.Parse(v) : fallback;
}

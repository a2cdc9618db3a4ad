using System.Diagnostics;
using LLama;
using LLama.Common;
using LLama.Native;

/// <summary>A GGUF model in llama.cpp (through LLamaSharp's CPU backend): teacher-forced logits and greedy decoding.</summary>
internal sealed class LlamaCpp : IDisposable
{
    private readonly LLamaWeights _weights;
    private readonly LLamaContext _context;
    private readonly int _vocab;
    private readonly int _batchSize;

    /// <param name="exact">Flash attention off and an F32 KV cache, for comparing logits; otherwise llama.cpp's defaults.</param>
    /// <param name="batchSize">Tokens per llama_decode call (n_batch) and per graph (n_ubatch); 0 = the context size, so a
    /// prompt is one graph. Long prompts need a smaller one: a graph's scratch grows with n_ubatch × n_ctx.</param>
    /// <param name="swaFull">llama.cpp's full-size cache for sliding-window layers; false keeps only the window plus one
    /// micro-batch there, as MimoSharp does; null leaves LLamaSharp's default.</param>
    /// <param name="flashAttention">Forces llama.cpp's flash attention on or off; null leaves its "auto".</param>
    public LlamaCpp(string gguf, int contextSize, int threads, bool exact, bool verbose = false, int batchSize = 0, bool? swaFull = null,
        bool? flashAttention = null)
    {
        if (!verbose)
            NativeLibraryConfig.All.WithLogCallback((level, message) =>
            {
                if (level is LLamaLogLevel.Error) Console.Error.Write("[llama.cpp] " + message);
                LlamaCppLog.Record(message);
            });
        _batchSize = batchSize > 0 ? batchSize : contextSize;
        var p = new ModelParams(gguf)
        {
            ContextSize = (uint)contextSize,
            BatchSize = (uint)_batchSize,
            UBatchSize = (uint)_batchSize,
            Threads = threads,
            BatchThreads = threads,
            GpuLayerCount = 0,
        };
        if (swaFull is bool full) p.SwaFull = full;
        if (flashAttention is bool flash) p.FlashAttention = flash;
        if (exact)
        {
            p.FlashAttention = false;
            p.TypeK = GGMLType.GGML_TYPE_F32;
            p.TypeV = GGMLType.GGML_TYPE_F32;
        }
        _weights = LLamaWeights.LoadFromFile(p);
        _context = _weights.CreateContext(p);
        _vocab = _weights.Vocab.Count;
    }

    public int VocabSize => _vocab;

    /// <summary>Logits [T, V] for every position of one sequence, run as one batch from an empty cache.</summary>
    public float[] Logits(int[] tokens)
    {
        _context.NativeHandle.MemoryClear();
        var batch = new LLamaBatch();
        for (int i = 0; i < tokens.Length; i++) batch.Add(tokens[i], i, LLamaSeqId.Zero, true);
        var result = _context.NativeHandle.Decode(batch);
        if (result != DecodeResult.Ok) throw new InvalidOperationException($"llama_decode failed: {result}");
        var logits = new float[tokens.Length * _vocab];
        for (int i = 0; i < tokens.Length; i++) _context.NativeHandle.GetLogitsIth(i).CopyTo(logits.AsSpan(i * _vocab, _vocab));
        return logits;
    }

    /// <summary>Prefills <paramref name="prompt"/>, then decodes greedily one token per step; returns the tokens and the timings.</summary>
    public (int[] Tokens, double PrefillSeconds, double DecodeSeconds) Greedy(int[] prompt, int count)
    {
        _context.NativeHandle.MemoryClear();
        var batch = new LLamaBatch();
        var clock = Stopwatch.StartNew();
        // One llama_decode per n_batch tokens, as llama.cpp's own tools feed a long prompt; logits for the last only.
        for (int start = 0; start < prompt.Length; start += _batchSize)
        {
            batch.Clear();
            int end = Math.Min(prompt.Length, start + _batchSize);
            for (int i = start; i < end; i++) batch.Add(prompt[i], i, LLamaSeqId.Zero, i == prompt.Length - 1);
            Check(_context.NativeHandle.Decode(batch));
        }
        var output = new int[count];
        output[0] = ArgMax(_context.NativeHandle.GetLogitsIth(batch.TokenCount - 1));
        double prefill = clock.Elapsed.TotalSeconds;
        clock.Restart();
        for (int i = 1; i < count; i++)
        {
            batch.Clear();
            batch.Add(output[i - 1], prompt.Length + i - 1, LLamaSeqId.Zero, true);
            Check(_context.NativeHandle.Decode(batch));
            output[i] = ArgMax(_context.NativeHandle.GetLogitsIth(0));
        }
        return (output, prefill, clock.Elapsed.TotalSeconds);
    }

    private static void Check(DecodeResult r)
    {
        if (r != DecodeResult.Ok) throw new InvalidOperationException($"llama_decode failed: {r}");
    }

    private static int ArgMax(ReadOnlySpan<float> x)
    {
        int best = 0;
        for (int i = 1; i < x.Length; i++) if (x[i] > x[best]) best = i;
        return best;
    }

    public void Dispose()
    {
        _context.Dispose();
        _weights.Dispose();
    }
}

/// <summary>What llama.cpp's log says about the context it built: the KV buffers' sizes and the flash-attention choice.</summary>
internal static class LlamaCppLog
{
    private static readonly System.Text.RegularExpressions.Regex s_kvBuffer = new(@"KV buffer size =\s*([0-9.]+) MiB");

    /// <summary>Sum of every "KV buffer size" line (the full-attention and the sliding-window caches), in bytes.</summary>
    public static long KvBufferBytes { get; private set; }

    /// <summary>The log lines that name flash attention (llama.cpp resolves "auto" per backend and says so).</summary>
    public static List<string> FlashAttention { get; } = new();

    public static void Record(string message)
    {
        var m = s_kvBuffer.Match(message);
        if (m.Success) KvBufferBytes += (long)(double.Parse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture) * 1048576);
        if (message.Contains("flash_attn", StringComparison.Ordinal) || message.Contains("Flash Attention", StringComparison.Ordinal))
            FlashAttention.Add(message.Trim());
    }
}

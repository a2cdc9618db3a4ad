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

    /// <param name="exact">Flash attention off and an F32 KV cache, for comparing logits; otherwise llama.cpp's defaults.</param>
    public LlamaCpp(string gguf, int contextSize, int threads, bool exact, bool verbose = false)
    {
        if (!verbose)
            NativeLibraryConfig.All.WithLogCallback((level, message) =>
            {
                if (level is LLamaLogLevel.Error) Console.Error.Write("[llama.cpp] " + message);
            });
        var p = new ModelParams(gguf)
        {
            ContextSize = (uint)contextSize,
            BatchSize = (uint)contextSize,
            UBatchSize = (uint)contextSize,
            Threads = threads,
            BatchThreads = threads,
            GpuLayerCount = 0,
        };
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
        for (int i = 0; i < prompt.Length; i++) batch.Add(prompt[i], i, LLamaSeqId.Zero, i == prompt.Length - 1);
        var clock = Stopwatch.StartNew();
        Check(_context.NativeHandle.Decode(batch));
        var output = new int[count];
        output[0] = ArgMax(_context.NativeHandle.GetLogitsIth(prompt.Length - 1));
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

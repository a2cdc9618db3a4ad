using System.Diagnostics;
using MimoSharp.Config;
using static TorchSharp.torch;

namespace MimoSharp.Training.Pretraining;

/// <summary>
/// Model FLOPs utilisation: the FLOPs a training step must do (the model's matmuls, PaLM-style — forward 2 per
/// multiply-add, backward twice the forward; norms, softmax and the optimizer not counted) over the seconds it
/// took, against this machine's measured matmul peak for the compute dtype.
/// </summary>
public static class TrainingFlops
{
    /// <summary>Forward FLOPs per trained token at context <paramref name="context"/>, MTP depths included.</summary>
    public static double ForwardPerToken(MimoConfig c, int mtpDepths, int context)
    {
        double flops = 0;
        for (int i = 0; i < c.NumHiddenLayers; i++) flops += LayerAttention(c, i, context) + FeedForward(c, i);
        return flops + LmHead(c) + mtpDepths * (MtpLayer(c, context) + LmHead(c));
    }

    /// <summary>Forward + backward (twice the forward) per trained token.</summary>
    public static double TrainingPerToken(MimoConfig c, int mtpDepths, int context) => 3 * ForwardPerToken(c, mtpDepths, context);

    /// <summary>One lm_head pass (the main model's or an MTP depth's).</summary>
    public static double LmHead(MimoConfig c) => 2.0 * c.HiddenSize * c.VocabSize;

    /// <summary>Layer <paramref name="layer"/>'s FFN: the router and the selected experts, or the dense SwiGLU.</summary>
    public static double FeedForward(MimoConfig c, int layer)
    {
        double h = c.HiddenSize;
        return c.IsMoeLayer[layer]
            ? 2 * h * c.NRoutedExperts + c.NumExpertsPerTok * 6 * h * c.MoeIntermediateSize
            : 6 * h * c.IntermediateSize;
    }

    /// <summary>Layer <paramref name="layer"/>'s attention block: projections and the scores and values over its visible keys.</summary>
    public static double LayerAttention(MimoConfig c, int layer, int context)
    {
        bool swa = c.IsSlidingWindowLayer[layer];
        return Attention(c, swa ? c.Swa : c.Global, swa ? c.SlidingWindow : 0, context);
    }

    /// <summary>One MTP depth without its lm_head pass: eh_proj (2h → h), a sliding-window attention block, a dense SwiGLU.</summary>
    public static double MtpLayer(MimoConfig c, int context)
    {
        double h = c.HiddenSize;
        return 2 * 2 * h * h + Attention(c, c.Swa, c.SlidingWindow, context) + 6 * h * c.IntermediateSize;
    }

    private static double Attention(MimoConfig c, AttentionShape s, int window, int context)
    {
        double h = c.HiddenSize;
        double projections = 2 * h * (s.NumHeads * s.HeadDim + s.NumKvHeads * (s.HeadDim + s.VHeadDim)) + 2 * s.NumHeads * s.VHeadDim * h;
        // Mean number of keys a query sees over the window positions 0..context-1 (causal, windowed if window > 0).
        double keys = 0;
        for (int t = 0; t < context; t++) keys += window > 0 ? Math.Min(t + 1, window) : t + 1;
        keys /= context;
        return projections + 2 * s.NumHeads * (s.HeadDim + s.VHeadDim) * keys;
    }

    /// <summary>
    /// The best matmul rate libtorch reaches here for <paramref name="dtype"/> on a square product of size
    /// <paramref name="n"/>, over about <paramref name="seconds"/> of repeats (the machine is noisy: the best run
    /// is the one least disturbed).
    /// </summary>
    public static double MeasurePeak(ScalarType dtype, int n = 1024, double seconds = 1.0)
    {
        using var scope = NewDisposeScope();
        var a = randn(n, n).to(dtype);
        var b = randn(n, n).to(dtype);
        for (int i = 0; i < 3; i++) using (var warm = matmul(a, b)) { }   // kernel selection, thread pool, clock ramp
        double best = 0;
        var total = Stopwatch.StartNew();
        while (total.Elapsed.TotalSeconds < seconds)
        {
            var clock = Stopwatch.StartNew();
            using (var product = matmul(a, b)) { }
            best = Math.Max(best, 2.0 * n * n * n / clock.Elapsed.TotalSeconds);
        }
        return best;
    }
}

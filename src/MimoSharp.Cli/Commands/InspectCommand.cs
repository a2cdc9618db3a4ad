using System.CommandLine;
using MimoSharp.Checkpoints;
using MimoSharp.Model;

namespace MimoSharp.Cli.Commands;

/// <summary><c>mimo inspect</c>: what a checkpoint is before running it.</summary>
internal static class InspectCommand
{
    public static Command Create()
    {
        var model = Cli.ModelOption();
        var json = Cli.JsonOption();
        var kvCache = Cli.KvCacheOption();
        var cmd = new Command("inspect", "config summary, parameter counts, dtypes and KV-cache cost of a checkpoint") { model, kvCache, json };
        cmd.SetAction(r => Cli.Run(() =>
        {
            using var m = MimoModel.Load(Cli.ResolveModel(r.GetValue(model)), new ModelLoadOptions { KvCache = Cli.KvCache(r.GetValue(kvCache)!) });
            var s = ModelSummary.Of(m);
            var c = m.Config;
            var report = new
            {
                model = Cli.ResolveModel(r.GetValue(model)),
                files = m.Checkpoint.Files.Select(Path.GetFileName).ToArray(),
                vocab_size = c.VocabSize,
                hidden_size = c.HiddenSize,
                layers = c.NumHiddenLayers,
                global_layers = s.GlobalLayers,
                sliding_window_layers = s.SlidingWindowLayers,
                sliding_window = c.SlidingWindow,
                moe_layers = s.MoeLayers,
                experts = c.NRoutedExperts,
                experts_per_token = c.NumExpertsPerTok,
                mtp_layers = s.MtpLayers,
                max_position_embeddings = c.MaxPositionEmbeddings,
                parameters_total = s.TotalParameters,
                parameters_main = s.MainParameters,
                parameters_active_per_token = s.ActiveParametersPerToken,
                parameters_mtp = s.MtpParameters,
                parameters_by_dtype = s.ParametersByDType,
                kv_cache_dtype = r.GetValue(kvCache),
                kv_cache_bytes_per_token = s.KvBytesPerToken,
                kv_cache_sliding_window_bytes = s.SlidingWindowKvBytes,
                kv_cache_bytes_32k = s.KvBytesFor(32768),
                kv_cache_bytes_128k = s.KvBytesFor(131072),
                kv_cache_bytes_256k = s.KvBytesFor(262144),
                fp8_kv_scale_layouts = s.KeyValueScaleLayouts.ToDictionary(p => p.Key, p => LayoutName(p.Value)),
            };
            if (r.GetValue(json))
            {
                Cli.WriteJson(report);
                return 0;
            }
            Console.WriteLine($"model        {report.model} ({string.Join(", ", report.files)})");
            Console.WriteLine($"shape        vocab {c.VocabSize}, hidden {c.HiddenSize}, {c.NumHiddenLayers} layers ({s.GlobalLayers} global, {s.SlidingWindowLayers} sliding-window, window {c.SlidingWindow})");
            Console.WriteLine($"attention    global {c.Global.NumHeads}q/{c.Global.NumKvHeads}kv heads, dims {c.Global.HeadDim}/{c.Global.VHeadDim}, theta {c.Global.RopeTheta:G}; SWA {c.Swa.NumHeads}q/{c.Swa.NumKvHeads}kv, dims {c.Swa.HeadDim}/{c.Swa.VHeadDim}, theta {c.Swa.RopeTheta:G}, sinks {c.Swa.HasSink}");
            Console.WriteLine($"FFN          {s.MoeLayers} MoE layers: {c.NRoutedExperts} experts, top-{c.NumExpertsPerTok}, {c.NGroup} groups/{c.TopkGroup} kept; dense width {c.IntermediateSize}, expert width {c.MoeIntermediateSize}");
            Console.WriteLine($"MTP layers   {s.MtpLayers}");
            Console.WriteLine($"parameters   total {Human(s.TotalParameters)}, main {Human(s.MainParameters)}, active/token {Human(s.ActiveParametersPerToken)}, MTP {Human(s.MtpParameters)}");
            Console.WriteLine($"dtypes       {string.Join(", ", s.ParametersByDType.Select(kv => $"{kv.Key} {Human(kv.Value)}"))}");
            var fp8 = s.KeyValueScaleLayouts.Where(p => p.Value != Fp8ScaleLayout.None).GroupBy(p => p.Value).ToArray();
            if (fp8.Length > 0)
                Console.WriteLine($"FP8 K/V      {string.Join("; ", fp8.Select(g => $"{LayoutName(g.Key)}: {string.Join(", ", g.Select(p => p.Key.Replace("model.", "")))}"))}");
            static string GiB(long bytes) => $"{bytes / (1024.0 * 1024 * 1024):F2} GiB";
            Console.WriteLine($"KV cache     {r.GetValue(kvCache)}: {s.KvBytesPerToken:N0} B/token (global layers) + {s.SlidingWindowKvBytes:N0} B fixed (windows); " +
                $"32k context {GiB(s.KvBytesFor(32768))}, 128k {GiB(s.KvBytesFor(131072))}, 256k {GiB(s.KvBytesFor(262144))}");
            return 0;
        }));
        return cmd;
    }

    private static string Human(long n) => n switch
    {
        >= 1_000_000_000 => $"{n / 1e9:F2}B",
        >= 1_000_000 => $"{n / 1e6:F2}M",
        >= 1_000 => $"{n / 1e3:F1}K",
        _ => n.ToString(),
    };

    /// <summary>The names inspect prints for each K/V scale layout.</summary>
    private static string LayoutName(Fp8ScaleLayout layout) => layout switch
    {
        Fp8ScaleLayout.PerHeadFusedKv => "per_head_fused_kv",
        Fp8ScaleLayout.Grid => "grid",
        _ => "none",
    };
}

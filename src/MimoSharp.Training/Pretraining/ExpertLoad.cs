using System.Globalization;
using MimoSharp.Training.Model;

namespace MimoSharp.Training.Pretraining;

/// <summary>Tokens routed to each expert of each MoE layer since the last log line: the load figures of the metrics and the log.</summary>
internal sealed class ExpertLoad(MimoNetwork network)
{
    private readonly long[][] _sums = network.MoeLayers.Select(_ => new long[network.Config.NRoutedExperts]).ToArray();

    /// <summary>Adds the last forward's per-expert counts.</summary>
    public void Add()
    {
        for (int i = 0; i < network.MoeLayers.Count; i++)
        {
            var load = network.MoeLayers[i].Moe.LastLoad;
            for (int e = 0; e < load.Length; e++) _sums[i][e] += load[e];
        }
    }

    /// <summary>Per MoE layer ("layer1", …): each expert's share of the routed tokens.</summary>
    public Dictionary<string, double[]> Shares()
    {
        var shares = new Dictionary<string, double[]>();
        for (int i = 0; i < network.MoeLayers.Count; i++)
        {
            double total = Math.Max(1, _sums[i].Sum());
            shares[$"layer{network.MoeLayers[i].Layer}"] = _sums[i].Select(c => c / total).ToArray();
        }
        return shares;
    }

    /// <summary>Per MoE layer: the busiest expert's share of the routed tokens over the mean share (1.00 = perfectly even).</summary>
    public string Summary()
    {
        if (network.MoeLayers.Count == 0) return "";
        var parts = new List<string>();
        for (int i = 0; i < network.MoeLayers.Count; i++)
        {
            double mean = _sums[i].Average();
            parts.Add(mean > 0 ? (_sums[i].Max() / mean).ToString("F2", CultureInfo.InvariantCulture) : "-");
        }
        return "max/mean expert load " + string.Join(" ", parts);
    }

    public void Clear()
    {
        foreach (var s in _sums) Array.Clear(s);
    }
}

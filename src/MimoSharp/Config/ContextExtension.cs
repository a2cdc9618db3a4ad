using System.Text.Json.Nodes;

namespace MimoSharp.Config;

/// <summary>
/// Context extension as MiMo-V2-Flash does it: to fine-tune for a longer context, raise the RoPE base of the global
/// (full-attention) layers only (640,000 → 5,000,000 in the paper), plain RoPE with no YaRN-style scaling. The
/// sliding-window layers keep their base: they never see a distance beyond their window.
/// </summary>
public static class ContextExtension
{
    /// <summary>
    /// The config with the global layers' <c>rope_theta</c> set to <paramref name="globalRopeTheta"/> (when given) and
    /// <c>max_position_embeddings</c> raised to at least <paramref name="contextLength"/>. <c>swa_rope_theta</c> is
    /// written out explicitly, because a config without it inherits <c>rope_theta</c> and would move the SWA layers too.
    /// Returns <paramref name="config"/> itself when nothing changes.
    /// </summary>
    public static MimoConfig Apply(MimoConfig config, double? globalRopeTheta, int contextLength)
    {
        if (globalRopeTheta is double t && !(t > 0 && double.IsFinite(t)))
            throw new ArgumentOutOfRangeException(nameof(globalRopeTheta), $"--rope-theta must be a positive number, got {t}");
        bool newBase = globalRopeTheta is double theta && theta != config.Global.RopeTheta;
        bool longer = contextLength > config.MaxPositionEmbeddings;
        if (!newBase && !longer) return config;
        var raw = (JsonObject?)config.Raw?.DeepClone()
            ?? throw new InvalidOperationException("the config has no JSON form to change (MimoConfig.Raw is null)");
        raw["swa_rope_theta"] = config.Swa.RopeTheta;
        if (newBase) raw["rope_theta"] = globalRopeTheta!.Value;
        if (longer) raw["max_position_embeddings"] = contextLength;
        return MimoConfig.Parse(raw);
    }
}

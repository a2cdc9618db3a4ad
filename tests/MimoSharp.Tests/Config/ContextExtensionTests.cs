using System.Text.Json.Nodes;
using MimoSharp.Config;
using MimoSharp.Tests.Support;

namespace MimoSharp.Tests.Config;

/// <summary>The config side of context extension: only the global layers' RoPE base moves, and the limit grows to the context.</summary>
public sealed class ContextExtensionTests
{
    [Fact]
    public void NewBaseMovesTheGlobalLayersOnlyAndIsWrittenOut()
    {
        // A config without swa_rope_theta: the SWA layers inherit rope_theta, so the extension must pin their base.
        var raw = JsonNode.Parse(File.ReadAllText(Path.Combine(Fixtures.Dir("tiny_f32"), "config.json")))!.AsObject();
        raw.Remove("swa_rope_theta");
        raw["rope_theta"] = 640000.0;
        raw["max_position_embeddings"] = 4096;
        var config = MimoConfig.Parse(raw);
        Assert.Equal(640000.0, config.Swa.RopeTheta);

        var extended = ContextExtension.Apply(config, 5_000_000, 32768);
        Assert.Equal(5_000_000, extended.Global.RopeTheta);
        Assert.Equal(640000.0, extended.Swa.RopeTheta);
        Assert.Equal(32768, extended.MaxPositionEmbeddings);
        var reparsed = MimoConfig.Parse(JsonNode.Parse(extended.Raw!.ToJsonString())!.AsObject());
        Assert.Equal((5_000_000.0, 640000.0, 32768), (reparsed.Global.RopeTheta, reparsed.Swa.RopeTheta, reparsed.MaxPositionEmbeddings));
        Assert.Equal(640000.0, config.Global.RopeTheta);   // the original is left alone

        // A shorter context keeps the limit; the same base and a context within the limit change nothing.
        Assert.Equal(4096, ContextExtension.Apply(config, 5_000_000, 1024).MaxPositionEmbeddings);
        Assert.Same(config, ContextExtension.Apply(config, 640000.0, 4096));
        Assert.Same(config, ContextExtension.Apply(config, null, 256));
        Assert.Equal(640000.0, ContextExtension.Apply(config, null, 8192).Global.RopeTheta);
        Assert.Throws<ArgumentOutOfRangeException>(() => ContextExtension.Apply(config, 0, 8192));
        Assert.Throws<ArgumentOutOfRangeException>(() => ContextExtension.Apply(config, double.NaN, 8192));
    }
}

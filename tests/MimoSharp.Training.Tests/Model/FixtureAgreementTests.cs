using MimoSharp.Inference;
using MimoSharp.Model;
using MimoSharp.Tests.Support;
using MimoSharp.Training.Checkpoints;
using MimoSharp.Training.Model;
using MimoSharp.Training.Tests.Support;
using static TorchSharp.torch;

namespace MimoSharp.Training.Tests.Model;

/// <summary>The training network and the engine are two implementations of one spec: on every fixture both must
/// reproduce the expected logits, and agree with each other within 1e-4, in float32.</summary>
public class FixtureAgreementTests
{
    public static TheoryData<string> AllFixtures => new(Fixtures.Names);

    [Theory]
    [MemberData(nameof(AllFixtures))]
    public void TrainingNetworkMatchesFixtureAndEngine(string fixture)
    {
        TorchSetup.Init();
        var expected = Fixtures.Expected(fixture);
        var tol = expected.GetProperty("tolerances");
        double logitTol = tol.GetProperty("logits_max_abs").GetDouble();
        double mtpTol = tol.GetProperty("mtp_logits_max_abs").GetDouble();
        double hiddenTol = tol.GetProperty("hidden_max_abs").GetDouble();
        int[] ids = Fixtures.Ints(expected.GetProperty("input_ids"));
        using var want = Fixtures.ExpectedTensors(fixture);

        using var network = NetworkCheckpoint.Load(Fixtures.Dir(fixture));
        using var engine = MimoModel.Load(Fixtures.Dir(fixture));
        var engineOut = TeacherForcing.Run(engine, ids);
        Assert.Equal(engine.MtpLayers.Count, network.MtpLayers.Count);

        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var tokens = tensor(ids.Select(i => (long)i).ToArray(), [1, ids.Length]);
        var hidden = network.Hidden(tokens);
        float[] h = NetworkCheckpoint.ToArray(hidden);
        float[] logits = NetworkCheckpoint.ToArray(network.Logits(hidden));

        Assert.InRange(Fixtures.MaxAbsDiff(h, want.Tensors["hidden_prenorm"].ToFloat64()), 0, hiddenTol);
        Assert.InRange(Fixtures.MaxAbsDiff(logits, want.Tensors["logits"].ToFloat64()), 0, logitTol);
        Assert.InRange(MaxAbsDiff(logits, engineOut.Logits), 0, 1e-4);
        for (int k = 0; k < network.MtpLayers.Count; k++)
        {
            float[] mtp = NetworkCheckpoint.ToArray(network.MtpLogits(k, tokens, hidden));
            Assert.InRange(Fixtures.MaxAbsDiff(mtp, want.Tensors[$"mtp.{k}.logits"].ToFloat64()), 0, mtpTol);
            Assert.InRange(MaxAbsDiff(mtp, engineOut.MtpLogits[k]), 0, 1e-4);
        }
    }

    [Theory]
    [MemberData(nameof(AllFixtures))]
    public void RouterChoosesTheFixtureExperts(string fixture)
    {
        TorchSetup.Init();
        var expected = Fixtures.Expected(fixture);
        int[] ids = Fixtures.Ints(expected.GetProperty("input_ids"));
        using var want = Fixtures.ExpectedTensors(fixture);
        using var network = NetworkCheckpoint.Load(Fixtures.Dir(fixture));
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var h = network.Embed(tensor(ids.Select(i => (long)i).ToArray(), [1, ids.Length]));
        foreach (var layer in network.Layers)
        {
            if (layer.Moe is { } moe)
            {
                // Route the layer's own FFN input, exactly as DecoderLayer does.
                var afterAttention = layer.AttentionResidual(h);
                var (indices, _) = moe.Gate.forward(layer.PostAttentionNorm(afterAttention).reshape(ids.Length, -1));
                long[] got = indices.data<long>().ToArray();
                Assert.Equal(want.Tensors[$"route_idx.{layer.Index}"].ToInt64(), got);
            }
            h = layer.forward(h);
        }
    }

    private static double MaxAbsDiff(float[] a, float[] b)
    {
        Assert.Equal(a.Length, b.Length);
        double m = 0;
        for (int i = 0; i < a.Length; i++) m = Math.Max(m, Math.Abs(a[i] - b[i]));
        return m;
    }
}

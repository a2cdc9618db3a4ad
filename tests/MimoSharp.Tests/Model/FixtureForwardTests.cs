using MimoSharp.Inference;
using MimoSharp.Model;
using MimoSharp.Tests.Support;

namespace MimoSharp.Tests.Model;

public sealed class FixtureForwardTests
{
    public static TheoryData<string, int> Paths()
    {
        var d = new TheoryData<string, int>();
        foreach (var n in Fixtures.Names)
        {
            d.Add(n, int.MaxValue); // one batched prefill
            d.Add(n, 1);            // token by token through the KV cache
            d.Add(n, 7);            // uneven chunks that straddle the window
        }
        return d;
    }

    [Theory]
    [MemberData(nameof(Paths))]
    public void LogitsHiddenAndMtpMatchTheFixture(string fixture, int chunk)
    {
        var expected = Fixtures.Expected(fixture);
        var tol = expected.GetProperty("tolerances");
        double logitTol = tol.GetProperty("logits_max_abs").GetDouble();
        double mtpTol = tol.GetProperty("mtp_logits_max_abs").GetDouble();
        double hiddenTol = tol.GetProperty("hidden_max_abs").GetDouble();
        int[] ids = Fixtures.Ints(expected.GetProperty("input_ids"));
        using var tensors = Fixtures.ExpectedTensors(fixture);
        using var model = MimoModel.Load(Fixtures.Dir(fixture));

        var outs = TeacherForcing.Run(model, ids, chunk);

        Assert.InRange(Fixtures.MaxAbsDiff(outs.HiddenPrenorm, tensors.Tensors["hidden_prenorm"].ToFloat64()), 0, hiddenTol);
        Assert.InRange(Fixtures.MaxAbsDiff(outs.Logits, tensors.Tensors["logits"].ToFloat64()), 0, logitTol);
        int depths = expected.GetProperty("num_mtp_layers").GetInt32();
        Assert.Equal(depths, model.MtpLayers.Count);
        for (int k = 0; k < depths; k++)
        {
            Assert.InRange(Fixtures.MaxAbsDiff(outs.MtpHidden[k], tensors.Tensors[$"mtp.{k}.hidden_prenorm"].ToFloat64()), 0, hiddenTol);
            Assert.InRange(Fixtures.MaxAbsDiff(outs.MtpLogits[k], tensors.Tensors[$"mtp.{k}.logits"].ToFloat64()), 0, mtpTol);
        }
        var argmax = Fixtures.Ints(expected.GetProperty("logits").GetProperty("argmax"));
        int v = model.VocabSize;
        for (int t = 0; t < ids.Length; t++)
            Assert.Equal(argmax[t], MimoSharp.Tensors.VectorMath.ArgMax(outs.Logits.AsSpan(t * v, v)));
    }

    [Fact]
    public void AModelComputesOnItsThreadsLoadOptionAndTheCountChangesNoBit()
    {
        string dir = Fixtures.Dir("tiny_f32");
        int[] ids = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12];
        using var one = MimoModel.Load(dir, new ModelLoadOptions { Threads = 1 });
        using var two = MimoModel.Load(dir, new ModelLoadOptions { Threads = 2 });
        Assert.Equal(1, one.Threads);
        Assert.Equal(2, two.Threads);
        var a = TeacherForcing.Run(one, ids);
        var b = TeacherForcing.Run(two, ids);
        Assert.Equal(a.Logits, b.Logits);
        Assert.Equal(a.MtpLogits, b.MtpLogits);
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => MimoModel.Load(dir, new ModelLoadOptions { Threads = 0 }).Dispose());
        Assert.Contains("Threads", e.Message);
    }
}

using MimoSharp.Inference;
using MimoSharp.Model;
using MimoSharp.Tensors;
using MimoSharp.Tests.Support;

namespace MimoSharp.Tests.Model;

/// <summary>Quantised weights stay within a stated distance of the exact logits, and keep batch invariance.</summary>
public sealed class QuantizedTests
{
    /// <summary>
    /// Q8_0 tolerance on the fixtures' logits (which span about ±4): max-abs 0.15 at every position up to the
    /// first routing flip. Measured: 0.04–0.14. The fixtures' expert choices are separated by gaps of ~1e-4,
    /// which weight quantisation can cross; a different expert changes that position by up to a few units and,
    /// through attention, later ones too, so positions from the first flip on are not comparable.
    /// </summary>
    public const double Q8Tolerance = 0.15;

    public static TheoryData<string> All() => new(Fixtures.Names);

    [Theory]
    [MemberData(nameof(All))]
    public void Q8_0LogitsStayCloseToTheExactOnesWhileRoutingAgrees(string fixture)
    {
        var expected = Fixtures.Expected(fixture);
        int[] ids = Fixtures.Ints(expected.GetProperty("input_ids"));
        using var tensors = Fixtures.ExpectedTensors(fixture);
        using var model = MimoModel.Load(Fixtures.Dir(fixture), WeightFormat.Q8_0);
        int v = model.VocabSize, t = ids.Length;

        // The first position whose experts differ from the reference's in any MoE layer.
        int firstFlip = t;
        foreach (var layer in model.Layers)
        {
            if (layer.FeedForward is not MoeFeedForward moe) continue;
            var reference = tensors.Tensors[$"route_idx.{layer.Index}"].ToInt64();
            int k = moe.Router.TopK;
            moe.OnRoute = (row, experts) =>
            {
                var want = reference.AsSpan(row * k, k).ToArray().Order();
                var got = experts.ToArray().Select(e => (long)e).Order();
                if (!want.SequenceEqual(got)) firstFlip = Math.Min(firstFlip, row);
            };
        }
        var outs = TeacherForcing.Run(model, ids);
        foreach (var layer in model.Layers)
            if (layer.FeedForward is MoeFeedForward moe) moe.OnRoute = null;

        var exact = tensors.Tensors["logits"].ToFloat64();
        var gaps = Enumerable.Range(0, t)
            .Select(p => Fixtures.MaxAbsDiff(outs.Logits.AsSpan(p * v, v), exact.AsSpan(p * v, v)))
            .ToArray();
        Assert.True(gaps.Min() > 1e-5, "the weights were not quantised");
        Assert.True(firstFlip >= 8, $"routing already differs at position {firstFlip}");
        for (int p = 0; p < firstFlip; p++)
            Assert.True(gaps[p] <= Q8Tolerance, $"position {p} (before any routing flip) is {gaps[p]:F3} from the exact logits");

        var stepwise = TeacherForcing.Run(model, ids, chunk: 1);
        Assert.Equal(outs.Logits, stepwise.Logits);
    }
}

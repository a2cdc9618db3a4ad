using MimoSharp.Inference;
using MimoSharp.Model;
using MimoSharp.Tests.Support;

namespace MimoSharp.Tests.Inference;

/// <summary>A row's result never depends on how many rows a pass has or what else is in it: bit for bit.</summary>
public sealed class BatchInvarianceTests
{
    public static TheoryData<string> All() => new(Fixtures.Names);

    [Theory]
    [MemberData(nameof(All))]
    public void PrefillChunkedAndTokenByTokenAgreeExactly(string fixture)
    {
        using var model = MimoModel.Load(Fixtures.Dir(fixture));
        int[] ids = Fixtures.Ints(Fixtures.Expected(fixture).GetProperty("input_ids"));
        var full = TeacherForcing.Run(model, ids);
        foreach (int chunk in new[] { 1, 3, 11 })
        {
            var other = TeacherForcing.Run(model, ids, chunk);
            Assert.Equal(full.Logits, other.Logits);
            Assert.Equal(full.HiddenPrenorm, other.HiddenPrenorm);
            for (int k = 0; k < model.MtpLayers.Count; k++) Assert.Equal(full.MtpLogits[k], other.MtpLogits[k]);
        }
    }

    [Theory]
    [MemberData(nameof(All))]
    public void SequencesBatchedTogetherMatchTheirSoloRuns(string fixture)
    {
        using var model = MimoModel.Load(Fixtures.Dir(fixture));
        int h = model.HiddenSize;
        int[] a = [3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5, 8];
        int[] b = [2, 7, 1, 8, 2, 8];

        float[] Solo(int[] seq)
        {
            var caches = model.CreateCaches();
            var hidden = new float[seq.Length * h];
            model.Forward(seq, BatchLayout.Single(0, seq.Length), [caches], hidden);
            return hidden;
        }

        // Both sequences in one pass, then a decode step with one new token each, also in one pass.
        var ca = model.CreateCaches();
        var cb = model.CreateCaches();
        var layout = new BatchLayout([new BatchLayout.Segment(0, a.Length - 1, 0), new BatchLayout.Segment(a.Length - 1, b.Length - 1, 0)]);
        var hidden = new float[layout.RowCount * h];
        model.Forward([.. a[..^1], .. b[..^1]], layout, [ca, cb], hidden);
        var step = new BatchLayout([new BatchLayout.Segment(0, 1, a.Length - 1), new BatchLayout.Segment(1, 1, b.Length - 1)]);
        var last = new float[2 * h];
        model.Forward([a[^1], b[^1]], step, [ca, cb], last);

        var soloA = Solo(a);
        var soloB = Solo(b);
        Assert.Equal(soloA[..((a.Length - 1) * h)], hidden[..((a.Length - 1) * h)]);
        Assert.Equal(soloB[..((b.Length - 1) * h)], hidden[((a.Length - 1) * h)..]);
        Assert.Equal(soloA[((a.Length - 1) * h)..], last[..h]);
        Assert.Equal(soloB[((b.Length - 1) * h)..], last[h..]);
    }
}

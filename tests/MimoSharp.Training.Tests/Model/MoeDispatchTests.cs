using MimoSharp.Config;
using MimoSharp.Training.Model;
using MimoSharp.Training.Tests.Support;
using static TorchSharp.torch;

namespace MimoSharp.Training.Tests.Model;

/// <summary>The grouped, padded expert pass (<see cref="ExpertDispatch"/>) computes y = Σ_selected w_e · Expert_e(x)
/// and its gradients exactly as every expert run on every token and weighted densely would.</summary>
public class MoeDispatchTests
{
    [Fact]
    public void PlanSortsSlotsByExpertKeepsTokenOrderAndPadsEachBlock()
    {
        var plan = new ExpertDispatch(experts: 4, bucket: 4);
        // 5 tokens, k = 2: token i chose experts (a, b) — expert 3 is never chosen.
        int[] slots = [0, 2, 2, 0, 1, 0, 2, 1, 0, 2];
        plan.Plan(slots, k: 2);

        Assert.Equal(new long[] { 4, 2, 4, 0 }, plan.Counts);
        Assert.Equal(new[] { 4, 4, 4, 0 }, plan.Rows);
        Assert.Equal(new[] { 0, 4, 8, 12 }, plan.Offsets);
        // Expert 0: tokens 0, 1, 2, 4 (slots 0, 3, 5, 8); expert 1: tokens 2, 3 then two padding rows (token 5, slot 10).
        Assert.Equal(new long[] { 0, 1, 2, 4, 2, 3, 5, 5, 0, 1, 3, 4 }, plan.TokenOfRow);
        Assert.Equal(new long[] { 0, 3, 5, 8, 4, 7, 10, 10, 1, 2, 6, 9 }, plan.SlotOfRow);
    }

    [Fact]
    public void PlanRejectsAnExpertOutsideTheRange()
    {
        var plan = new ExpertDispatch(experts: 3, bucket: 8);
        Assert.Throws<ArgumentOutOfRangeException>(() => plan.Plan([0, 3], k: 2));
    }

    [Fact]
    public void MoeForwardAndGradientsEqualTheDenseReference()
    {
        TorchSetup.Init();
        manual_seed(7);
        var config = MimoConfig.Parse(TinyRun.TinyConfig(300));
        using var moe = new MoeFeedForward(config);
        using (no_grad())
            foreach (var (_, p) in moe.named_parameters()) p.normal_(0, 0.3);
        using var x = randn(2, 40, config.HiddenSize).requires_grad_(true);
        using var r = randn(2, 40, config.HiddenSize);

        using var y = moe.forward(x);
        using var loss = (y * r).sum();
        loss.backward();
        var grads = Gradients(moe, x);
        Assert.Equal(2 * 80, moe.LastLoad.Sum());

        using var xRef = x.detach().clone().requires_grad_(true);
        foreach (var (_, p) in moe.named_parameters()) p.grad?.zero_();
        using var yRef = DenseReference(moe, xRef, config);
        using var lossRef = (yRef * r).sum();
        lossRef.backward();
        var gradsRef = Gradients(moe, xRef);

        Assert.True(y.allclose(yRef, rtol: 1e-5, atol: 1e-6), $"max |Δy| = {(y - yRef).abs().max().item<float>()}");
        foreach (var (name, g) in grads)
            Assert.True(g.allclose(gradsRef[name], rtol: 1e-5, atol: 1e-6), $"{name}: max |Δgrad| = {(g - gradsRef[name]).abs().max().item<float>()}");
    }

    /// <summary>Every expert on every token, weighted by a dense [N, E] matrix that holds the router's weights at the chosen experts.</summary>
    private static Tensor DenseReference(MoeFeedForward moe, Tensor x, MimoConfig config)
    {
        var flat = x.reshape(-1, config.HiddenSize);
        var (indices, weights) = moe.Gate.forward(flat);
        var dense = zeros(flat.shape[0], config.NRoutedExperts).scatter(1, indices, weights);
        var all = stack(moe.Experts.Select(e => e.forward(flat)).ToArray(), 1);   // [N, E, H]
        return (all * dense.unsqueeze(2)).sum(1).view(x.shape);
    }

    private static Dictionary<string, Tensor> Gradients(MoeFeedForward moe, Tensor x)
    {
        var grads = moe.named_parameters().Where(p => p.parameter.grad is not null)
            .ToDictionary(p => p.name, p => p.parameter.grad!.clone());
        grads["input"] = x.grad!.clone();
        return grads;
    }
}

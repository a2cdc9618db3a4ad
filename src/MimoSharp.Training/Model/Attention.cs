using MimoSharp.Config;
using static TorchSharp.torch;

namespace MimoSharp.Training.Model;

/// <summary>
/// Grouped-query attention of one layer type (spec §3): V scaled by attention_value_scale, partial RoPE on
/// q and k, scores scaled by head_dim^-0.5, a causal mask that for sliding-window layers also hides keys
/// W or more tokens back, and optional per-head sink logits that take softmax mass but carry no value.
/// </summary>
public sealed class Attention : nn.Module<Tensor, Tensor>
{
    private readonly AttentionShape _shape;
    private readonly int _window;   // 0 = global (plain causal)
    private readonly double _valueScale;
    private readonly PartialRope _rope;
    private readonly Linear _q, _k, _v, _o;
    private Tensor? _mask;

    public Parameter? SinkBias { get; }

    public Attention(MimoConfig config, AttentionShape shape, bool slidingWindow) : base(nameof(Attention))
    {
        _shape = shape;
        _window = slidingWindow ? config.SlidingWindow : 0;
        _valueScale = config.AttentionValueScale;
        _rope = new PartialRope(config.RotaryDim(shape), shape.RopeTheta);
        int h = config.HiddenSize;
        _q = new Linear(h, shape.NumHeads * shape.HeadDim);
        _k = new Linear(h, shape.NumKvHeads * shape.HeadDim);
        _v = new Linear(h, shape.NumKvHeads * shape.VHeadDim);
        _o = new Linear(shape.NumHeads * shape.VHeadDim, h);
        register_module("q_proj", _q);
        register_module("k_proj", _k);
        register_module("v_proj", _v);
        register_module("o_proj", _o);
        if (shape.HasSink)
        {
            SinkBias = new Parameter(zeros(shape.NumHeads));
            register_parameter("attention_sink_bias", SinkBias);
        }
    }

    /// <summary>Additive mask [T, T]: 0 where key j is visible to query i (j ≤ i, and i − j &lt; W on SWA layers), −inf elsewhere.</summary>
    public static Tensor Mask(int t, int window)
    {
        using var i = arange(t).unsqueeze(1);
        using var j = arange(t).unsqueeze(0);
        using var causal = j.le(i);
        using var visible = window > 0 ? causal.logical_and((i - j).lt(window)) : causal.alias();
        using var zero = zeros(t, t);
        return zero.masked_fill(visible.logical_not(), float.NegativeInfinity);
    }

    /// <summary>x: [B, T, H] (already normed) → [B, T, H].</summary>
    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        long b = x.shape[0], t = x.shape[1];
        var s = _shape;
        var q = _q.forward(x).view(b, t, s.NumHeads, s.HeadDim).transpose(1, 2);
        var k = _k.forward(x).view(b, t, s.NumKvHeads, s.HeadDim).transpose(1, 2);
        var v = _v.forward(x).view(b, t, s.NumKvHeads, s.VHeadDim).transpose(1, 2) * _valueScale;
        q = _rope.Apply(q);
        k = _rope.Apply(k);
        int rep = s.QueriesPerKvHead;
        if (rep > 1)
        {
            k = k.repeat_interleave(rep, 1);
            v = v.repeat_interleave(rep, 1);
        }
        if (_window == 0 && SinkBias is null)
        {
            // Plain causal attention in libtorch's fused call. Its flash kernel (no [T, T] scores) needs q/k and v of one
            // head size; MiMo's values are narrower (3:2), so they are zero-padded to the key width and the padding's
            // output columns dropped: more value FLOPs, but no [B, heads, T, T] score tensors through forward and backward.
            if (s.VHeadDim < s.HeadDim) v = nn.functional.pad(v, [0, s.HeadDim - s.VHeadDim]);
            var fused = nn.functional.scaled_dot_product_attention(q, k, v, null, 0.0, true);   // positional: the causal flag is spelled is_casual in this TorchSharp
            if (s.VHeadDim < s.HeadDim) fused = fused.narrow(-1, 0, s.VHeadDim);
            return _o.forward(fused.transpose(1, 2).reshape(b, t, s.NumHeads * s.VHeadDim)).MoveToOuterDisposeScope();
        }
        if (_window > 0 && t >= 2 * _window)
        {
            var blocked = SlidingWindowBlocks(q, k, v, b, t);
            return _o.forward(blocked.transpose(1, 2).reshape(b, t, s.NumHeads * s.VHeadDim)).MoveToOuterDisposeScope();
        }
        if (_mask is null || _mask.dim() != 2 || _mask.shape[0] != t)
        {
            _mask?.Dispose();
            _mask = Mask((int)t, _window).DetachFromDisposeScope();
        }
        var scores = matmul(q * Math.Pow(s.HeadDim, -0.5), k.transpose(2, 3)).add_(_mask);   // [B, nq, T, T]
        Tensor probs;
        if (SinkBias is not null)
        {
            // The sink is one more logit per row, not scaled; softmax over keys + sink, then drop the sink's share.
            var sink = SinkBias.view(1, s.NumHeads, 1, 1).expand(b, s.NumHeads, t, 1);
            probs = cat([scores, sink], -1).softmax(-1).narrow(-1, 0, t);
        }
        else
        {
            probs = scores.softmax(-1);
        }
        var o = matmul(probs, v).transpose(1, 2).reshape(b, t, s.NumHeads * s.VHeadDim);
        return _o.forward(o).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Sliding-window attention in blocks of W queries, each against its own block and the one before (the only
    /// keys a window of W can reach): scores of [T, 2W] instead of [T, T], so long training contexts cost what the
    /// window reads. The same keys and logits as the full mask, so the same result. q, k, v: [B, nq, T, ·] → [B, nq, T, dv].
    /// </summary>
    private Tensor SlidingWindowBlocks(Tensor q, Tensor k, Tensor v, long b, long t)
    {
        int w = _window;
        long blocks = (t + w - 1) / w, padded = blocks * w;
        var s = _shape;
        if (padded != t)
        {
            // Padding lies after every real query, so the causal part of the mask hides it; padded queries are dropped.
            q = nn.functional.pad(q, [0, 0, 0, padded - t]);
            k = nn.functional.pad(k, [0, 0, 0, padded - t]);
            v = nn.functional.pad(v, [0, 0, 0, padded - t]);
        }
        Tensor Pairs(Tensor x)   // [B, nq, P, d] → [B, nq, blocks, 2W, d]: block i-1 then block i (zeros before block 0)
        {
            var current = x.view(b, s.NumHeads, blocks, w, x.shape[3]);
            var previous = nn.functional.pad(current, [0, 0, 0, 0, 1, 0]).narrow(2, 0, blocks);
            return cat([previous, current], 3);
        }
        if (_mask is null || _mask.dim() != 3 || _mask.shape[0] != blocks)
        {
            _mask?.Dispose();
            _mask = BlockMask((int)blocks, w).DetachFromDisposeScope();
        }
        var queries = q.view(b, s.NumHeads, blocks, w, s.HeadDim) * Math.Pow(s.HeadDim, -0.5);
        var scores = matmul(queries, Pairs(k).transpose(3, 4)).add_(_mask);   // [B, nq, blocks, W, 2W]
        Tensor probs;
        if (SinkBias is not null)
        {
            var sink = SinkBias.view(1, s.NumHeads, 1, 1, 1).expand(b, s.NumHeads, blocks, w, 1);
            probs = cat([scores, sink], -1).softmax(-1).narrow(-1, 0, 2 * w);
        }
        else
        {
            probs = scores.softmax(-1);
        }
        return matmul(probs, Pairs(v)).view(b, s.NumHeads, padded, s.VHeadDim).narrow(2, 0, t);
    }

    /// <summary>
    /// Additive mask [blocks, W, 2W] of <see cref="SlidingWindowBlocks"/>: query i of a block sees key j of the block
    /// pair (position j − W relative to the block's start) when i − W &lt; j − W ≤ i; block 0 has no block before it.
    /// </summary>
    public static Tensor BlockMask(int blocks, int window)
    {
        using var i = arange(window).view(1, window, 1);
        using var j = arange(2 * window).view(1, 1, 2 * window);
        using var block = arange(blocks).view(blocks, 1, 1);
        using var visible = j.gt(i).logical_and(j.le(i + window)).logical_and(block.gt(0).logical_or(j.ge(window)));
        using var zero = zeros(blocks, window, 2 * window);
        return zero.masked_fill(visible.logical_not(), float.NegativeInfinity);
    }
}

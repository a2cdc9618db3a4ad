using MimoSharp.Config;
using static TorchSharp.torch;

namespace MimoSharp.Training.Model;

/// <summary>
/// One multi-token-prediction block (spec §7): x = [enorm(Embed[tok]), hnorm(h_main)] · eh_projᵀ, then a
/// sliding-window attention block and a dense SwiGLU block; the shared lm_head reads final_layernorm(x).
/// Every depth reads the main model's pre-norm hidden state (depths are not chained).
/// </summary>
public sealed class MtpLayer : nn.Module<Tensor, Tensor, Tensor>
{
    private readonly RmsNorm _enorm, _hnorm, _inputNorm, _preMlpNorm;
    private readonly Linear _ehProj;
    private readonly Attention _attention;
    private readonly SwiGlu _mlp;

    public int Depth { get; }
    public RmsNorm FinalNorm { get; }

    public MtpLayer(MimoConfig config, int depth) : base(nameof(MtpLayer))
    {
        Depth = depth;
        int h = config.HiddenSize;
        double eps = config.RmsNormEps;
        _enorm = new RmsNorm(h, eps);
        _hnorm = new RmsNorm(h, eps);
        _ehProj = new Linear(2 * h, h);
        _inputNorm = new RmsNorm(h, eps);
        _attention = new Attention(config, config.Swa, slidingWindow: true);
        _preMlpNorm = new RmsNorm(h, eps);
        _mlp = new SwiGlu(h, config.IntermediateSize);
        FinalNorm = new RmsNorm(h, eps);
        register_module("enorm", _enorm);
        register_module("hnorm", _hnorm);
        register_module("eh_proj", _ehProj);
        register_module("input_layernorm", _inputNorm);
        register_module("self_attn", _attention);
        register_module("pre_mlp_layernorm", _preMlpNorm);
        register_module("mlp", _mlp);
        register_module("final_layernorm", FinalNorm);
    }

    /// <summary>embedded: Embed[t_{i+k+1}] [B, T', H]; mainHidden: h_i [B, T', H] → block output (pre final norm).</summary>
    public override Tensor forward(Tensor embedded, Tensor mainHidden)
    {
        using var scope = NewDisposeScope();
        var x = _ehProj.forward(cat([_enorm.forward(embedded), _hnorm.forward(mainHidden)], -1));
        x = x + _attention.forward(_inputNorm.forward(x));
        x = x + _mlp.forward(_preMlpNorm.forward(x));
        return x.MoveToOuterDisposeScope();
    }
}

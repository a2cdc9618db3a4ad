using static TorchSharp.torch;

namespace MimoSharp.Training.Model;

/// <summary>down( silu(gate(x)) * up(x) ) — the dense FFN, the MTP FFN and every expert (spec §5).</summary>
public sealed class SwiGlu : nn.Module<Tensor, Tensor>
{
    private readonly Linear _gate, _up, _down;

    public SwiGlu(int hidden, int intermediate) : base(nameof(SwiGlu))
    {
        _gate = new Linear(hidden, intermediate);
        _up = new Linear(hidden, intermediate);
        _down = new Linear(intermediate, hidden);
        register_module("gate_proj", _gate);
        register_module("up_proj", _up);
        register_module("down_proj", _down);
    }

    public override Tensor forward(Tensor x)
    {
        using var g = _gate.forward(x);
        using var u = _up.forward(x);
        using var a = nn.functional.silu(g);
        using var m = a * u;
        return _down.forward(m);
    }
}

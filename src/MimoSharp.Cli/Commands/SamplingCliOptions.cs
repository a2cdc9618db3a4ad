using System.CommandLine;
using MimoSharp.Inference;

namespace MimoSharp.Cli.Commands;

/// <summary>The sampling flags shared by generate, chat and bench.</summary>
internal sealed class SamplingCliOptions
{
    private static readonly SamplingOptions s_defaults = new();

    public Option<float> Temperature { get; } = new("--temperature") { Description = "0 = greedy (argmax, lowest id on ties)", DefaultValueFactory = _ => s_defaults.Temperature };
    public Option<int> TopK { get; } = new("--top-k") { Description = "keep the k most likely tokens (0 = off)" };
    public Option<float> TopP { get; } = new("--top-p") { Description = "nucleus sampling mass (1 = off)", DefaultValueFactory = _ => s_defaults.TopP };
    public Option<float> MinP { get; } = new("--min-p") { Description = "drop tokens below min-p × the top probability (0 = off)" };
    public Option<float> RepetitionPenalty { get; } = new("--repetition-penalty") { Description = "HF repetition penalty (1 = off)", DefaultValueFactory = _ => s_defaults.RepetitionPenalty };
    public Option<ulong?> Seed { get; } = new("--seed") { Description = "random seed; the same seed gives the same output" };

    public void AddTo(Command cmd)
    {
        cmd.Options.Add(Temperature);
        cmd.Options.Add(TopK);
        cmd.Options.Add(TopP);
        cmd.Options.Add(MinP);
        cmd.Options.Add(RepetitionPenalty);
        cmd.Options.Add(Seed);
    }

    public SamplingOptions Read(ParseResult r)
    {
        var s = new SamplingOptions
        {
            Temperature = r.GetValue(Temperature),
            TopK = r.GetValue(TopK),
            TopP = r.GetValue(TopP),
            MinP = r.GetValue(MinP),
            RepetitionPenalty = r.GetValue(RepetitionPenalty),
            Seed = r.GetValue(Seed),
        };
        try
        {
            s.Validate();
        }
        catch (ArgumentOutOfRangeException e)
        {
            throw new ArgumentException($"--{Flag(e.ParamName)}: {e.Message.Split(" (Parameter")[0]}");
        }
        return s;
    }

    private static string Flag(string? property) => property switch
    {
        "TopK" => "top-k",
        "TopP" => "top-p",
        "MinP" => "min-p",
        "RepetitionPenalty" => "repetition-penalty",
        _ => "temperature",
    };
}

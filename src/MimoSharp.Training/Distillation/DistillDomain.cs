using MimoSharp.Model;
using MimoSharp.Text;

namespace MimoSharp.Training.Distillation;

/// <summary>A prompt as token ids, with the stop tokens and length limit its response is sampled with.</summary>
public sealed record EncodedPrompt(DistillPrompt Source, int[] Ids, int[] StopTokens, int MaxTokens);

/// <summary>One MOPD domain: its teacher (loaded in the inference engine) and its training and held-out prompts.</summary>
public sealed class DistillDomain(string name, string teacherDirectory, MimoModel teacher, IReadOnlyList<EncodedPrompt> train,
    IReadOnlyList<EncodedPrompt> heldout) : IDisposable
{
    public string Name => name;
    public string TeacherDirectory => teacherDirectory;
    public MimoModel Teacher => teacher;
    public IReadOnlyList<EncodedPrompt> Train => train;
    public IReadOnlyList<EncodedPrompt> Heldout => heldout;

    public void Dispose() => teacher.Dispose();
}

/// <summary>Turns prompt files into token ids with the student's tokenizer, naming the file and line of anything unusable.</summary>
public sealed class PromptEncoder(Tokenizer tokenizer, int maxPositions)
{
    private readonly Dictionary<string, int[]> _stopTokens = new(StringComparer.Ordinal);

    public Tokenizer Tokenizer => tokenizer;

    public IReadOnlyList<EncodedPrompt> Encode(string path, int defaultMaxTokens)
    {
        var prompts = DistillPrompt.Load(path);
        var encoded = new List<EncodedPrompt>(prompts.Count);
        for (int i = 0; i < prompts.Count; i++)
        {
            var p = prompts[i];
            int[] ids = tokenizer.Encode(p.Prompt, parseSpecial: false);
            int maxTokens = p.MaxTokens ?? defaultMaxTokens;
            if (ids.Length == 0) throw new InvalidDataException($"{path}: prompt {i + 1} encodes to no tokens");
            if (ids.Length + maxTokens > maxPositions)
                throw new InvalidDataException($"{path}: prompt {i + 1} has {ids.Length} tokens; with {maxTokens} response tokens it exceeds max_position_embeddings ({maxPositions})");
            var stops = (p.Stop ?? []).SelectMany(StopTokens).Distinct().Order().ToArray();
            encoded.Add(new EncodedPrompt(p, ids, stops, maxTokens));
        }
        return encoded;
    }

    /// <summary>Every token whose bytes contain the stop string: a response ends at the first such token, however BPE merged it.</summary>
    private int[] StopTokens(string stop)
    {
        if (_stopTokens.TryGetValue(stop, out var cached)) return cached;
        byte[] needle = System.Text.Encoding.UTF8.GetBytes(stop);
        var ids = new List<int>();
        for (int id = 0; id < tokenizer.VocabSize; id++)
            if (tokenizer.TokenBytes(id).IndexOf(needle) >= 0) ids.Add(id);
        return _stopTokens[stop] = ids.ToArray();
    }
}

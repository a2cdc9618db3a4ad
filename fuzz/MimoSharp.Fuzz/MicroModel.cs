using MimoSharp.Checkpoints;
using MimoSharp.Text;

namespace MimoSharp.Fuzz;

/// <summary>
/// A micro checkpoint of the full architecture (a global and a sliding-window layer, MoE, one MTP layer), a
/// 288-id tokenizer cut from the default model's and its GGUF export: valid seeds small enough that most
/// mutations land in headers rather than weights. Built once per process from the repository's own writers.
/// </summary>
public static class MicroModel
{
    private static readonly Lazy<string> Folder = new(Build);

    /// <summary>config.json, model.safetensors, tokenizer.json and model.gguf.</summary>
    public static string Directory => Folder.Value;

    public static string GgufPath => Path.Combine(Directory, "model.gguf");

    /// <summary>The repository root (the folder holding MimoSharp.slnx), found from the running assembly.</summary>
    public static string RepositoryRoot
    {
        get
        {
            for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
                if (File.Exists(Path.Combine(d.FullName, "MimoSharp.slnx"))) return d.FullName;
            throw new DirectoryNotFoundException($"no MimoSharp.slnx above {AppContext.BaseDirectory}: run the fuzzer from the repository's build");
        }
    }

    private static string Build()
    {
        string dir = System.IO.Directory.CreateTempSubdirectory("mimo-fuzz-micro-").FullName;
        AppDomain.CurrentDomain.ProcessExit += (_, _) => { try { System.IO.Directory.Delete(dir, true); } catch (IOException) { } };
        const int bpe = 262, vocab = bpe + 26;
        var config = SyntheticCheckpoint.Config(hidden: 16, layers: 2, experts: 4, topK: 2, moeIntermediate: 8, vocab: vocab,
            heads: 2, headDim: 12, vHeadDim: 8, window: 4, denseIntermediate: 24);
        config["max_position_embeddings"] = 2048;
        config["eos_token_id"] = bpe;
        SyntheticCheckpoint.Write(dir, config, mtpLayers: 1, seed: 7);
        string defaultTokenizer = Path.Combine(RepositoryRoot, "models", "default", "tokenizer.json");
        File.WriteAllText(Path.Combine(dir, "tokenizer.json"), TokenizerTruncation.Truncate(File.ReadAllBytes(defaultTokenizer), bpe, defaultTokenizer));
        using (var checkpoint = Checkpoint.Open(dir))
            GgufExport.Write(checkpoint, mtpLayers: 1, Path.Combine(dir, "model.gguf"));
        return dir;
    }
}

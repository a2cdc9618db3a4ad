using System.Runtime.InteropServices;

namespace MimoSharp.Training.Data;

/// <summary>Reads and writes shard files: raw little-endian uint32 token ids, nothing else.</summary>
public static class ShardReader
{
    public static int[] Read(string directory, ShardInfo shard, int vocabSize)
    {
        string path = Path.Combine(directory, shard.File);
        if (!File.Exists(path)) throw new FileNotFoundException($"shard {path} listed in meta.json does not exist");
        var tokenBytes = File.ReadAllBytes(path);   // through symbolic links, unlike FileInfo.Length
        long bytes = tokenBytes.Length;
        if (bytes == 0) throw new InvalidDataException($"shard {path} is empty (0 tokens); re-pack the corpus");
        if (bytes % 4 != 0) throw new InvalidDataException($"shard {path} has {bytes} bytes, not a whole number of uint32 tokens");
        if (bytes / 4 != shard.Tokens)
            throw new InvalidDataException($"shard {path} holds {bytes / 4} tokens but meta.json says {shard.Tokens}");
        var tokens = MemoryMarshal.Cast<byte, int>(tokenBytes).ToArray();
        for (int i = 0; i < tokens.Length; i++)
            if ((uint)tokens[i] >= (uint)vocabSize)
                throw new InvalidDataException($"shard {path}: token {i} is {(uint)tokens[i]}, outside the vocabulary of {vocabSize}");
        return tokens;
    }

    public static void Write(string path, ReadOnlySpan<int> tokens) => File.WriteAllBytes(path, MemoryMarshal.AsBytes(tokens).ToArray());
}

using System.Text.Json;
using MimoSharp.Config;
using MimoSharp.Text;

namespace MimoSharp.Checkpoints;

/// <summary>
/// The tokenizer.ggml.* metadata llama.cpp needs to load a model. From the model folder's tokenizer.json
/// (byte-level BPE, as MiMo's Qwen-style tokenizer is): tokenizer.ggml.model "gpt2", pre-tokenizer "qwen2",
/// every id's token text and type, the merges, and bos/eos and the chat template when known. Ids past the
/// tokenizer up to vocab_size are "[PAD{id}]" placeholders of type UNUSED, as llama.cpp's converter writes.
/// A folder without tokenizer.json (random test models) gets a byte-level placeholder vocabulary: one token
/// per byte, then "&lt;|mimo_{id}|&gt;", no merges — enough for llama.cpp to load and run token ids.
/// </summary>
internal static class GgufTokenizer
{
    // llama.cpp's token types (llama_token_type)
    private const int Normal = 1, Control = 3, UserDefined = 4, Unused = 5;

    public static void Add(GgufWriter w, MimoConfig cfg, string? directory, Action<string>? log)
    {
        string? path = directory is null ? null : Path.Combine(directory, "tokenizer.json");
        int vocab = cfg.VocabSize;
        var tokens = new string[vocab];
        var types = new int[vocab];
        string[] merges = [];
        string pre = "default";
        int? eos = cfg.EosTokenIds.Length > 0 ? cfg.EosTokenIds[0] : null;
        string? chatTemplate = null;

        if (path is not null && File.Exists(path))
        {
            using var doc = JsonDocument.Parse(File.ReadAllBytes(path));
            var root = doc.RootElement;
            var model = root.GetProperty("model");
            if (model.TryGetProperty("type", out var type) && type.GetString() != "BPE")
                throw new CheckpointException($"{path}: model.type is \"{type.GetString()}\"; only byte-level BPE tokenizers can be written to GGUF");
            foreach (var entry in model.GetProperty("vocab").EnumerateObject())
                Set(entry.Value.GetInt32(), entry.Name, Normal);
            if (root.TryGetProperty("added_tokens", out var added) && added.ValueKind == JsonValueKind.Array)
                foreach (var t in added.EnumerateArray())
                    Set(t.GetProperty("id").GetInt32(), t.GetProperty("content").GetString()!,
                        t.TryGetProperty("special", out var sp) && sp.GetBoolean() ? Control : UserDefined);
            merges = model.GetProperty("merges").EnumerateArray()
                .Select(m => m.ValueKind == JsonValueKind.Array ? $"{m[0].GetString()} {m[1].GetString()}" : m.GetString()!)
                .ToArray();
            pre = "qwen2";

            string configPath = Path.Combine(directory!, "tokenizer_config.json");
            if (File.Exists(configPath))
            {
                using var tc = JsonDocument.Parse(File.ReadAllBytes(configPath));
                if (tc.RootElement.TryGetProperty("chat_template", out var ct) && ct.ValueKind == JsonValueKind.String)
                    chatTemplate = ct.GetString();
                if (eos is null && tc.RootElement.TryGetProperty("eos_token", out var et))
                {
                    string? content = et.ValueKind == JsonValueKind.String ? et.GetString()
                        : et.ValueKind == JsonValueKind.Object && et.TryGetProperty("content", out var c) ? c.GetString() : null;
                    int id = content is null ? -1 : Array.IndexOf(tokens, content);
                    if (id >= 0) eos = id;
                }
            }
            int pads = 0;
            for (int id = 0; id < vocab; id++)
                if (tokens[id] is null)
                {
                    tokens[id] = $"[PAD{id}]";
                    types[id] = Unused;
                    pads++;
                }
            log?.Invoke($"tokenizer: {vocab - pads} tokens and {merges.Length} merges from {path}" + (pads > 0 ? $", {pads} padding ids" : ""));
        }
        else
        {
            for (int id = 0; id < vocab; id++)
            {
                tokens[id] = id < 256 ? ByteLevelAlphabet.ToChar((byte)id).ToString() : $"<|mimo_{id}|>";
                types[id] = Normal;
            }
            log?.Invoke($"tokenizer: no tokenizer.json beside the weights; wrote a byte-level placeholder vocabulary of {vocab} tokens");
        }

        w.AddString("tokenizer.ggml.model", "gpt2");
        w.AddString("tokenizer.ggml.pre", pre);
        w.AddArray("tokenizer.ggml.tokens", GgufValueType.String, tokens);
        w.AddArray("tokenizer.ggml.token_type", GgufValueType.Int32, types);
        w.AddArray("tokenizer.ggml.merges", GgufValueType.String, merges);
        if (cfg.BosTokenId is int bos) w.AddUInt32("tokenizer.ggml.bos_token_id", bos);
        if (eos is int e) w.AddUInt32("tokenizer.ggml.eos_token_id", e);
        w.AddBool("tokenizer.ggml.add_bos_token", false);
        if (chatTemplate is not null) w.AddString("tokenizer.chat_template", chatTemplate);

        void Set(int id, string text, int tokenType)
        {
            if (id < 0 || id >= vocab)
                throw new CheckpointException($"{path}: token \"{text}\" has id {id}, outside vocab_size {vocab} of config.json");
            tokens[id] = text;
            types[id] = tokenType;
        }
    }
}

using System.Text.Json;
using MimoSharp.Server.Engine;

namespace MimoSharp.Server.Http;

/// <summary>A POST /v1/completions body: one prompt (text or token ids), OpenAI's legacy defaults.</summary>
internal sealed record TextCompletionRequest(CompletionRequest Request, GenerationFields Fields)
{
    /// <summary>OpenAI's default max_tokens for /v1/completions.</summary>
    public const int DefaultMaxTokens = 16;

    public static TextCompletionRequest Parse(JsonElement root, MimoEngine engine)
    {
        if (root.ValueKind != JsonValueKind.Object) throw JsonFields.WrongType("body", "a JSON object", root);
        JsonFields.CheckText(root);
        var fields = GenerationFields.Read(root, engine);
        if (JsonFields.Bool(root, "echo", "echo") == true)
            throw new InvalidRequestException("echo", "echo is not supported", "unsupported_value");
        if (JsonFields.String(root, "suffix", "suffix") is { Length: > 0 })
            throw new InvalidRequestException("suffix", "suffix is not supported", "unsupported_value");
        if (JsonFields.Integer(root, "best_of", "best_of") is long bestOf && bestOf != 1)
            throw new InvalidRequestException("best_of", $"best_of must be 1, got {bestOf}", "invalid_value");
        var request = Prompt(root) with
        {
            MaxTokens = fields.MaxTokens ?? Math.Min(DefaultMaxTokens, engine.MaxTokensLimit),
            Sampling = fields.Sampling,
            Stop = fields.Stop,
            IgnoreEos = fields.IgnoreEos,
        };
        return new TextCompletionRequest(request, fields);
    }

    // A string, an array of token ids, or a one-element array of either.
    private static CompletionRequest Prompt(JsonElement root)
    {
        var prompt = JsonFields.Get(root, "prompt")
            ?? throw new InvalidRequestException("prompt", "prompt is required: a string or an array of token ids", "missing_field");
        if (prompt.ValueKind == JsonValueKind.String) return new CompletionRequest { Prompt = JsonFields.Text(prompt, "prompt") };
        if (prompt.ValueKind != JsonValueKind.Array) throw JsonFields.WrongType("prompt", "a string or an array of token ids", prompt);
        int count = prompt.GetArrayLength();
        if (count == 0) throw new InvalidRequestException("prompt", "prompt must not be empty", "empty_prompt");
        var first = prompt[0];
        if (first.ValueKind is JsonValueKind.String or JsonValueKind.Array)
        {
            if (count != 1) throw new InvalidRequestException("prompt", $"only one prompt per request is supported, got {count}", "unsupported_value");
            if (first.ValueKind == JsonValueKind.String) return new CompletionRequest { Prompt = JsonFields.Text(first, "prompt[0]") };
            return new CompletionRequest { PromptIds = Ids(first, "prompt[0]") };
        }
        return new CompletionRequest { PromptIds = Ids(prompt, "prompt") };
    }

    private static int[] Ids(JsonElement array, string path)
    {
        var ids = new int[array.GetArrayLength()];
        int i = 0;
        foreach (var item in array.EnumerateArray())
        {
            if (item.ValueKind != JsonValueKind.Number || !item.TryGetInt32(out ids[i]))
                throw JsonFields.WrongType($"{path}[{i}]", "an integer token id", item);
            i++;
        }
        if (ids.Length == 0) throw new InvalidRequestException(path, $"{path} must not be empty", "empty_prompt");
        return ids;
    }
}

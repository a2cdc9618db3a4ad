using System.Text.Json;
using MimoSharp.Inference;
using MimoSharp.Server.Engine;

namespace MimoSharp.Server.Http;

/// <summary>The fields chat and text completions share: model, sampling, limits, stop strings, streaming.</summary>
internal sealed record GenerationFields(
    SamplingOptions Sampling, int? MaxTokens, string MaxTokensField, IReadOnlyList<string> Stop, bool IgnoreEos, bool Stream, bool IncludeUsage)
{
    private const int MaxStopStrings = 16;

    public static GenerationFields Read(JsonElement root, MimoEngine engine)
    {
        if (JsonFields.String(root, "model", "model") is { } model && model != engine.ModelId)
            throw new InvalidRequestException("model",
                $"the model '{model}' does not exist; this server serves '{engine.ModelId}'", "model_not_found", statusCode: 404);

        if (JsonFields.Integer(root, "n", "n") is long n && n != 1)
            throw new InvalidRequestException("n", $"n must be 1 (one choice per request), got {n}", "invalid_value");
        foreach (string name in new[] { "presence_penalty", "frequency_penalty" })
            if (JsonFields.Number(root, name, name) is double p && p != 0)
                throw new InvalidRequestException(name, $"{name} is not supported (only 0); use repetition_penalty", "unsupported_value");
        if (JsonFields.Bool(root, "logprobs", "logprobs") == true)
            throw new InvalidRequestException("logprobs", "logprobs are not supported", "unsupported_value");

        var sampling = new SamplingOptions
        {
            // OpenAI's defaults: temperature 1, top_p 1.
            Temperature = (float)(JsonFields.Number(root, "temperature", "temperature") ?? 1.0),
            TopP = (float)(JsonFields.Number(root, "top_p", "top_p") ?? 1.0),
            TopK = TopK(JsonFields.Int32(root, "top_k", "top_k")),
            MinP = (float)(JsonFields.Number(root, "min_p", "min_p") ?? 0.0),
            RepetitionPenalty = (float)(JsonFields.Number(root, "repetition_penalty", "repetition_penalty") ?? 1.0),
            Seed = JsonFields.Integer(root, "seed", "seed") is long seed ? unchecked((ulong)seed) : null,
        };
        if (sampling.Temperature > 2)
            throw new InvalidRequestException("temperature", $"temperature must be between 0 and 2, got {sampling.Temperature}", "invalid_value");

        // max_completion_tokens is OpenAI's current name; max_tokens the older one that most clients still send.
        string maxField = JsonFields.Get(root, "max_completion_tokens") is not null ? "max_completion_tokens" : "max_tokens";
        long? max = JsonFields.Integer(root, maxField, maxField);
        if (max is < 1)
            throw new InvalidRequestException(maxField, $"{maxField} must be ≥ 1, got {max}", "invalid_value");
        if (max > int.MaxValue)
            throw new InvalidRequestException(maxField, $"{maxField} is {JsonFields.Get(root, maxField)!.Value.GetRawText()}, more than this server allows ({engine.MaxTokensLimit})", "invalid_value");
        int? maxTokens = (int?)max;

        bool stream = JsonFields.Bool(root, "stream", "stream") ?? false;
        bool includeUsage = false;
        if (JsonFields.Object(root, "stream_options", "stream_options") is { } options)
            includeUsage = JsonFields.Bool(options, "include_usage", "stream_options.include_usage") ?? false;

        bool ignoreEos = JsonFields.Bool(root, "ignore_eos", "ignore_eos") ?? false;
        return new GenerationFields(sampling, maxTokens, maxField, StopStrings(root), ignoreEos, stream, includeUsage);
    }

    /// <summary>Starts a generation, renaming the engine's "max_tokens" errors to the field the client used.</summary>
    public T Start<T>(Func<T> start)
    {
        try
        {
            return start();
        }
        catch (InvalidRequestException e) when (e.ParamName == "max_tokens" && MaxTokensField != "max_tokens")
        {
            throw new InvalidRequestException(MaxTokensField, e.Reason.Replace("max_tokens", MaxTokensField), e.Code, e.StatusCode);
        }
    }

    // vLLM spells "no top-k" as -1; the sampler as 0.
    private static int TopK(int? value) => value switch
    {
        null or -1 => 0,
        < 0 => throw new InvalidRequestException("top_k", $"top_k must be ≥ 0 (or -1 for off), got {value}", "invalid_value"),
        _ => value.Value,
    };

    private static IReadOnlyList<string> StopStrings(JsonElement root)
    {
        if (JsonFields.Get(root, "stop") is not { } stop) return [];
        if (stop.ValueKind == JsonValueKind.String) return [JsonFields.Text(stop, "stop")];
        if (stop.ValueKind != JsonValueKind.Array) throw JsonFields.WrongType("stop", "a string or an array of strings", stop);
        if (stop.GetArrayLength() > MaxStopStrings)
            throw new InvalidRequestException("stop", $"stop may have at most {MaxStopStrings} strings, got {stop.GetArrayLength()}", "invalid_value");
        var list = new List<string>();
        int i = 0;
        foreach (var item in stop.EnumerateArray())
        {
            if (item.ValueKind != JsonValueKind.String) throw JsonFields.WrongType($"stop[{i}]", "a string", item);
            list.Add(JsonFields.Text(item, $"stop[{i}]"));
            i++;
        }
        return list;
    }
}

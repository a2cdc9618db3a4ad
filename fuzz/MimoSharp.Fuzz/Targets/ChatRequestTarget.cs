using System.Text;
using System.Text.Json;
using MimoSharp.Checkpoints;
using MimoSharp.Model;
using MimoSharp.Server.Engine;
using MimoSharp.Server.Http;
using MimoSharp.Text;

namespace MimoSharp.Fuzz.Targets;

/// <summary>
/// A POST /v1/chat/completions body, taken the server's way: deserialized into its contract records and checked by the request validator, rendered with
/// the chat template, tokenized, admitted by the engine and generated to the end on the micro model. A refusal is
/// a JSON error (the server's 400 invalid_json) or an <see cref="InvalidRequestException"/> naming its field.
/// </summary>
public sealed class ChatRequestTarget : FuzzTarget
{
    private readonly MimoEngine _engine;

    public ChatRequestTarget()
    {
        var model = MimoModel.Load(MicroModel.Directory);
        var tokenizer = Tokenizer.FromFile(Path.Combine(MicroModel.Directory, "tokenizer.json"));
        _engine = new MimoEngine(model, tokenizer, new EngineOptions { ModelId = "micro", MaxTokensLimit = 64 }, ownsModel: true);
        Seeds = SeedBodies.Select(Encoding.UTF8.GetBytes).ToArray();
    }

    private static readonly string[] SeedBodies =
    [
        """{"model":"micro","messages":[{"role":"user","content":"Hello"}],"max_tokens":8}""",
        """{"messages":[{"role":"system","content":"Be brief."},{"role":"user","content":[{"type":"text","text":"2+2?"}]}],"temperature":0.8,"top_p":0.95,"top_k":20,"seed":3,"stream":true,"stream_options":{"include_usage":true},"stop":["\n\n","END"],"max_completion_tokens":12}""",
        """{"messages":[{"role":"user","content":"weather?"},{"role":"assistant","content":"","reasoning_content":"use the tool","tool_calls":[{"id":"c1","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}}]},{"role":"tool","tool_call_id":"c1","content":"sunny"}],"tools":[{"type":"function","function":{"name":"get_weather","description":"Weather","parameters":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}}}],"chat_template_kwargs":{"enable_thinking":true},"max_tokens":16,"ignore_eos":true}""",
        """{"messages":[{"role":"developer","content":"x"},{"role":"user","content":"y"}],"min_p":0.05,"repetition_penalty":1.1,"response_format":{"type":"text"},"n":1,"max_tokens":4}""",
    ];

    public override string Name => "chat-request";
    public override IReadOnlyList<byte[]> Seeds { get; }

    protected override void Read(ReadOnlySpan<byte> input)
    {
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(input.ToArray());
        }
        catch (JsonException e)
        {
            throw new BodyNotJsonException(e);   // the server's 400 invalid_json; a JsonException later would be a 500
        }
        using var owned = document;
        var parsed = ChatCompletionRequest.Parse(owned.RootElement, _engine);
        var generation = parsed.Fields.Start(() => _engine.StartChat(parsed.Request));
        foreach (var _ in generation.ReadAsync().ToBlockingEnumerable()) { }
        OpenAiJson.ChatCompletion(OpenAiJson.ResponseId.New("chatcmpl", _engine.ModelId), generation);
    }

    protected override bool IsRefusal(Exception e) => e switch
    {
        BodyNotJsonException => true,
        InvalidRequestException r => !string.IsNullOrEmpty(r.ParamName) && !string.IsNullOrEmpty(r.Reason),
        _ => false,
    };

    private sealed class BodyNotJsonException(JsonException inner) : Exception(inner.Message, inner);

    public override void Dispose()
    {
        _engine.Dispose();
        base.Dispose();
    }
}

using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using MimoSharp.Server.Engine;
using MimoSharp.Server.Http.Contracts;

namespace MimoSharp.Server.Http;

/// <summary>
/// Reads request JSON into the contract records. A value of the wrong kind becomes an
/// <see cref="InvalidRequestException"/> naming the field by its path ("messages[1].role") and what it should be;
/// a missing field or JSON null is "not given".
/// </summary>
internal static class RequestJson
{
    /// <summary>Reads a whole request body: a JSON object of valid text, then its fields by the contract.</summary>
    public static T ReadBody<T>(JsonElement body, JsonTypeInfo<T> contract)
    {
        if (body.ValueKind != JsonValueKind.Object) throw WrongType("body", "a JSON object", body.ValueKind);
        CheckText(body);
        return Read(body, contract, "");
    }

    /// <summary>Reads <paramref name="value"/> as <typeparamref name="T"/>; <paramref name="path"/> is where it sits in the body ("" for the body).</summary>
    public static T Read<T>(JsonElement value, JsonTypeInfo<T> contract, string path)
    {
        try
        {
            return value.Deserialize(contract)!;
        }
        catch (JsonException e)
        {
            var segments = Segments(e.Path);
            string field = Field(path, segments);
            if (e is FieldValueException refused) throw new InvalidRequestException(field, $"{field} {refused.Reason}", refused.Code);
            // The serializer's own refusal: a string, boolean, object or array field holding another kind.
            var (expected, actual) = Locate(contract, value, segments);
            throw WrongType(field, Describe(expected), actual.ValueKind);
        }
    }

    /// <summary>
    /// Checks that every string and property name in the body is text .NET can hold (JSON may escape half a
    /// surrogate pair, "\ud800"), so that nothing later — a tool schema read during generation included —
    /// trips over one. Names the first offending field.
    /// </summary>
    public static void CheckText(JsonElement value, string path = "")
    {
        switch (value.ValueKind)
        {
            case JsonValueKind.String:
                Text(value, path.Length == 0 ? "body" : path);
                break;
            case JsonValueKind.Array:
                int i = 0;
                foreach (var item in value.EnumerateArray()) CheckText(item, $"{path}[{i++}]");
                break;
            case JsonValueKind.Object:
                foreach (var property in value.EnumerateObject())
                {
                    string name;
                    try
                    {
                        name = property.Name;
                    }
                    catch (InvalidOperationException)
                    {
                        throw new InvalidRequestException(path.Length == 0 ? "body" : path,
                            $"a property name in {(path.Length == 0 ? "the body" : path)} escapes half of a surrogate pair", "invalid_value");
                    }
                    CheckText(property.Value, path.Length == 0 ? name : $"{path}.{name}");
                }
                break;
        }
    }

    /// <summary>
    /// A JSON string's text. JSON may escape half a surrogate pair ("\ud800"), which is no .NET string:
    /// that is the client's error, not the server's.
    /// </summary>
    public static string Text(JsonElement value, string path)
    {
        try
        {
            return value.GetString()!;
        }
        catch (InvalidOperationException)
        {
            throw new InvalidRequestException(path, $"{path} is not valid Unicode text: it escapes half of a surrogate pair", "invalid_value");
        }
    }

    /// <summary>A field given but null counts as not given.</summary>
    public static JsonElement? Given(JsonElement? value) => value is { ValueKind: not (JsonValueKind.Null or JsonValueKind.Undefined) } v ? v : null;

    public static InvalidRequestException WrongType(string path, string expected, JsonValueKind actual) =>
        new(path, $"{path} must be {expected}, got {Describe(actual)}", "invalid_type");

    /// <summary>A converter's refusal of a token of the wrong kind; the serializer supplies the path.</summary>
    public static FieldValueException WrongType(string expected, JsonTokenType actual) => new($"must be {expected}, got {Describe(actual switch
    {
        JsonTokenType.String => JsonValueKind.String,
        JsonTokenType.Number => JsonValueKind.Number,
        JsonTokenType.True => JsonValueKind.True,
        JsonTokenType.False => JsonValueKind.False,
        JsonTokenType.StartArray => JsonValueKind.Array,
        JsonTokenType.StartObject => JsonValueKind.Object,
        _ => JsonValueKind.Null,
    })}", "invalid_type");

    private static string Describe(JsonValueKind kind) => kind switch
    {
        JsonValueKind.String => "a string",
        JsonValueKind.Number => "a number",
        JsonValueKind.True or JsonValueKind.False => "a boolean",
        JsonValueKind.Array => "an array",
        JsonValueKind.Object => "an object",
        _ => "null",
    };

    // What the contract declares at a place, in the words of the error messages.
    private static string Describe(JsonTypeInfo contract)
    {
        var type = Nullable.GetUnderlyingType(contract.Type) ?? contract.Type;
        if (type == typeof(string)) return "a string";
        if (type == typeof(bool)) return "a boolean";
        return contract.Kind switch
        {
            JsonTypeInfoKind.Object => "an object",
            JsonTypeInfoKind.Enumerable => "an array",
            _ => $"a {type.Name}",
        };
    }

    // The contract and the value at the path the serializer reported, followed from the root of both.
    private static (JsonTypeInfo Expected, JsonElement Actual) Locate(JsonTypeInfo contract, JsonElement value, List<object> segments)
    {
        foreach (var segment in segments)
        {
            if (segment is int index)
            {
                contract = contract.Options.GetTypeInfo(contract.ElementType!);
                value = value[index];
            }
            else
            {
                var property = contract.Properties.First(p => p.Name == (string)segment);
                contract = contract.Options.GetTypeInfo(property.PropertyType);
                value = value.GetProperty((string)segment);
            }
        }
        return (contract, value);
    }

    // A JSONPath as the serializer writes it ("$.messages[0].content", "$['odd.name']"): names and indices.
    private static List<object> Segments(string? jsonPath)
    {
        var segments = new List<object>();
        string p = jsonPath ?? "$";
        for (int i = 1; i < p.Length;)
        {
            if (p[i] == '.')
            {
                int end = p.IndexOfAny(['.', '['], i + 1);
                if (end < 0) end = p.Length;
                segments.Add(p[(i + 1)..end]);
                i = end;
            }
            else if (p.AsSpan(i).StartsWith("['"))
            {
                int end = p.IndexOf("']", i + 2, StringComparison.Ordinal);
                segments.Add(p[(i + 2)..end].Replace("\\'", "'"));
                i = end + 2;
            }
            else
            {
                int end = p.IndexOf(']', i);
                segments.Add(int.Parse(p.AsSpan(i + 1, end - i - 1), System.Globalization.CultureInfo.InvariantCulture));
                i = end + 1;
            }
        }
        return segments;
    }

    // The field's name as the errors spell it: "messages[0].content", or "body" for the whole body.
    private static string Field(string path, List<object> segments)
    {
        var field = new System.Text.StringBuilder(path);
        foreach (var segment in segments)
        {
            if (segment is int index) field.Append('[').Append(index).Append(']');
            else (field.Length == 0 ? field : field.Append('.')).Append((string)segment);
        }
        return field.Length == 0 ? "body" : field.ToString();
    }
}

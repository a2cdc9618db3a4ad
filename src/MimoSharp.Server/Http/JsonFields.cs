using System.Text.Json;
using MimoSharp.Server.Engine;

namespace MimoSharp.Server.Http;

/// <summary>
/// Typed reads of request-body fields. A missing field or JSON null is "not given"; a value of the wrong
/// type is an <see cref="InvalidRequestException"/> naming the field by its path (e.g. "messages[1].role").
/// </summary>
internal static class JsonFields
{
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

    public static JsonElement? Get(JsonElement obj, string name) =>
        obj.TryGetProperty(name, out var value) && value.ValueKind != JsonValueKind.Null ? value : null;

    public static string? String(JsonElement obj, string name, string path)
    {
        if (Get(obj, name) is not { } v) return null;
        return v.ValueKind == JsonValueKind.String ? Text(v, path) : throw WrongType(path, "a string", v);
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

    public static bool? Bool(JsonElement obj, string name, string path)
    {
        if (Get(obj, name) is not { } v) return null;
        return v.ValueKind switch
        {
            JsonValueKind.True => true,
            JsonValueKind.False => false,
            _ => throw WrongType(path, "a boolean", v),
        };
    }

    public static double? Number(JsonElement obj, string name, string path)
    {
        if (Get(obj, name) is not { } v) return null;
        if (v.ValueKind != JsonValueKind.Number) throw WrongType(path, "a number", v);
        double d = v.GetDouble();
        return double.IsFinite(d) ? d : throw new InvalidRequestException(path, $"{path} must be a finite number", "invalid_value");
    }

    /// <summary>An integer field; values beyond ±int64 (or fractions) are errors, never silently rounded.</summary>
    public static long? Integer(JsonElement obj, string name, string path)
    {
        if (Get(obj, name) is not { } v) return null;
        if (v.ValueKind != JsonValueKind.Number) throw WrongType(path, "an integer", v);
        if (v.TryGetInt64(out long l)) return l;
        if (v.TryGetDouble(out double d) && Math.Floor(d) == d && double.IsFinite(d))
            return d > 0 ? long.MaxValue : long.MinValue;   // integral but huge: let range checks report it
        throw new InvalidRequestException(path, $"{path} must be an integer, got {v.GetRawText()}", "invalid_type");
    }

    public static JsonElement? Object(JsonElement obj, string name, string path)
    {
        if (Get(obj, name) is not { } v) return null;
        return v.ValueKind == JsonValueKind.Object ? v : throw WrongType(path, "an object", v);
    }

    public static JsonElement? Array(JsonElement obj, string name, string path)
    {
        if (Get(obj, name) is not { } v) return null;
        return v.ValueKind == JsonValueKind.Array ? v : throw WrongType(path, "an array", v);
    }

    /// <summary>An int field clamped into int's range (huge values stay huge for the range checks to name).</summary>
    public static int? Int32(JsonElement obj, string name, string path) =>
        Integer(obj, name, path) is long l ? (int)Math.Clamp(l, int.MinValue, int.MaxValue) : null;

    public static InvalidRequestException WrongType(string path, string expected, JsonElement actual) =>
        new(path, $"{path} must be {expected}, got {Describe(actual)}", "invalid_type");

    private static string Describe(JsonElement v) => v.ValueKind switch
    {
        JsonValueKind.String => "a string",
        JsonValueKind.Number => "a number",
        JsonValueKind.True or JsonValueKind.False => "a boolean",
        JsonValueKind.Array => "an array",
        JsonValueKind.Object => "an object",
        _ => "null",
    };
}

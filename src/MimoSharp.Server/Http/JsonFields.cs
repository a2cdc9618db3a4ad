using System.Text.Json;
using MimoSharp.Server.Engine;

namespace MimoSharp.Server.Http;

/// <summary>
/// Typed reads of request-body fields. A missing field or JSON null is "not given"; a value of the wrong
/// type is an <see cref="InvalidRequestException"/> naming the field by its path (e.g. "messages[1].role").
/// </summary>
internal static class JsonFields
{
    public static JsonElement? Get(JsonElement obj, string name) =>
        obj.TryGetProperty(name, out var value) && value.ValueKind != JsonValueKind.Null ? value : null;

    public static string? String(JsonElement obj, string name, string path)
    {
        if (Get(obj, name) is not { } v) return null;
        return v.ValueKind == JsonValueKind.String ? v.GetString() : throw WrongType(path, "a string", v);
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

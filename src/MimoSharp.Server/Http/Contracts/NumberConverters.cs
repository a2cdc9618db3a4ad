using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace MimoSharp.Server.Http.Contracts;

/// <summary>
/// A JSON value a converter refuses, with the reason as the client reads it after the field's path
/// ("must be an integer, got 2.5"); the serializer adds the path and <see cref="RequestJson"/> names the field.
/// </summary>
internal sealed class FieldValueException(string reason, string code) : JsonException(reason)
{
    public string Reason { get; } = reason;
    public string Code { get; } = code;
}

/// <summary>
/// An integer as sent: its value, and its literal for the messages that quote it ("max_tokens is 1e30, …").
/// </summary>
internal readonly record struct IntegerValue(long Value, string Literal);

/// <summary>
/// An integer field. Fractions are refused, never rounded; an integral value beyond ±int64 (1e30) saturates so that
/// the field's range check names it rather than a type error.
/// </summary>
internal sealed class IntegerConverter : JsonConverter<IntegerValue?>
{
    public override IntegerValue? Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        if (reader.TokenType == JsonTokenType.Null) return null;
        if (reader.TokenType != JsonTokenType.Number) throw RequestJson.WrongType("an integer", reader.TokenType);
        string literal = Encoding.UTF8.GetString(reader.ValueSpan);
        if (reader.TryGetInt64(out long l)) return new IntegerValue(l, literal);
        if (reader.TryGetDouble(out double d) && Math.Floor(d) == d && double.IsFinite(d))
            return new IntegerValue(d > 0 ? long.MaxValue : long.MinValue, literal);
        throw new FieldValueException($"must be an integer, got {literal}", "invalid_type");
    }

    public override void Write(Utf8JsonWriter writer, IntegerValue? value, JsonSerializerOptions options) =>
        throw new NotSupportedException("request fields are only read");
}

/// <summary>A number field; one that overflows a double (1e400) is refused by name.</summary>
internal sealed class FiniteNumberConverter : JsonConverter<double?>
{
    public override double? Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        if (reader.TokenType == JsonTokenType.Null) return null;
        if (reader.TokenType != JsonTokenType.Number) throw RequestJson.WrongType("a number", reader.TokenType);
        return reader.TryGetDouble(out double d) && double.IsFinite(d) ? d : throw new FieldValueException("must be a finite number", "invalid_value");
    }

    public override void Write(Utf8JsonWriter writer, double? value, JsonSerializerOptions options) =>
        throw new NotSupportedException("request fields are only read");
}

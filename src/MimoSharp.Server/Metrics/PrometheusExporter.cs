using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using System.Globalization;
using System.Text;

namespace MimoSharp.Server.Metrics;

/// <summary>
/// Renders one meter's counters and gauges in Prometheus' text exposition format (0.0.4), for GET /metrics.
/// A <see cref="MeterListener"/> sums what counters add as it happens and asks observable instruments for their
/// values at each scrape. Counters (observable or not) are "counter" families, every other instrument a "gauge";
/// the meter has no histograms, so none are rendered.
/// </summary>
internal sealed class PrometheusExporter : IDisposable
{
    public const string ContentType = "text/plain; version=0.0.4; charset=utf-8";

    private readonly MeterListener _listener = new();
    private readonly List<Family> _families = [];   // in the order the meter created them
    private readonly Lock _scrape = new();

    /// <summary>One instrument's series: label text (route="/health",code="200") → value.</summary>
    private sealed class Family(Instrument instrument)
    {
        public Instrument Instrument { get; } = instrument;
        public ConcurrentDictionary<string, double> Series { get; } = new(StringComparer.Ordinal);

        public string Type => Instrument.GetType().GetGenericTypeDefinition() is var t && (t == typeof(Counter<>) || t == typeof(ObservableCounter<>))
            ? "counter" : "gauge";
    }

    /// <summary>Listens to <paramref name="meter"/> only (by reference: each server's meter is its own, even in one process).</summary>
    public PrometheusExporter(Meter meter)
    {
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (!ReferenceEquals(instrument.Meter, meter)) return;
            var family = new Family(instrument);
            lock (_families) _families.Add(family);
            listener.EnableMeasurementEvents(instrument, family);
        };
        _listener.SetMeasurementEventCallback<long>((_, value, tags, state) => Record((Family)state!, value, tags));
        _listener.SetMeasurementEventCallback<int>((_, value, tags, state) => Record((Family)state!, value, tags));
        _listener.SetMeasurementEventCallback<double>((_, value, tags, state) => Record((Family)state!, value, tags));
        _listener.Start();
    }

    public string Render()
    {
        var text = new StringBuilder();
        lock (_scrape)
        {
            _listener.RecordObservableInstruments();
            Family[] families;
            lock (_families) families = [.. _families];
            foreach (var family in families)
            {
                string name = family.Instrument.Name;
                text.Append("# HELP ").Append(name).Append(' ').Append(family.Instrument.Description).Append('\n');
                text.Append("# TYPE ").Append(name).Append(' ').Append(family.Type).Append('\n');
                foreach (var (labels, value) in family.Series.OrderBy(s => s.Key, StringComparer.Ordinal))
                {
                    text.Append(name);
                    if (labels.Length > 0) text.Append('{').Append(labels).Append('}');
                    text.Append(' ').Append(value.ToString("R", CultureInfo.InvariantCulture)).Append('\n');
                }
            }
        }
        return text.ToString();
    }

    public void Dispose() => _listener.Dispose();

    // A counter's measurement is an increment; an observable instrument's is its current value.
    private static void Record(Family family, double value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        string labels = Labels(tags);
        if (family.Instrument.IsObservable) family.Series[labels] = value;
        else family.Series.AddOrUpdate(labels, value, (_, sum) => sum + value);
    }

    private static string Labels(ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        if (tags.Length == 0) return "";
        var text = new StringBuilder();
        foreach (var (key, value) in tags)
        {
            if (text.Length > 0) text.Append(',');
            string escaped = Convert.ToString(value, CultureInfo.InvariantCulture)!.Replace("\\", "\\\\").Replace("\"", "\\\"").Replace("\n", "\\n");
            text.Append(key).Append("=\"").Append(escaped).Append('"');
        }
        return text.ToString();
    }
}

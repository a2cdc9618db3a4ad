using System.Diagnostics.Metrics;
using MimoSharp.Server.Metrics;

namespace MimoSharp.Server.Tests.Metrics;

/// <summary>The /metrics text: counters summed per label set, observable instruments read at each scrape, one meter only.</summary>
public sealed class PrometheusExporterTests
{
    [Fact]
    public void CountersAreSummedPerLabelSetAndGaugesReadWhenRendered()
    {
        using var meter = new Meter("test.exporter");
        var requests = meter.CreateCounter<long>("demo_requests_total", description: "Requests.");
        double level = 1.5;
        meter.CreateObservableGauge("demo_level", () => level, description: "A level.");
        meter.CreateObservableCounter("demo_outcomes_total", () => new[]
        {
            new Measurement<long>(3, new KeyValuePair<string, object?>("outcome", "stop")),
            new Measurement<long>(0, new KeyValuePair<string, object?>("outcome", "failed")),
        }, description: "Outcomes.");
        using var exporter = new PrometheusExporter(meter);

        requests.Add(1, new KeyValuePair<string, object?>("route", "/b"), new KeyValuePair<string, object?>("code", 200));
        requests.Add(2, new KeyValuePair<string, object?>("route", "/a"), new KeyValuePair<string, object?>("code", 404));
        requests.Add(1, new KeyValuePair<string, object?>("route", "/b"), new KeyValuePair<string, object?>("code", 200));
        level = 2.25;

        Assert.Equal(
            """
            # HELP demo_requests_total Requests.
            # TYPE demo_requests_total counter
            demo_requests_total{route="/a",code="404"} 2
            demo_requests_total{route="/b",code="200"} 2
            # HELP demo_level A level.
            # TYPE demo_level gauge
            demo_level 2.25
            # HELP demo_outcomes_total Outcomes.
            # TYPE demo_outcomes_total counter
            demo_outcomes_total{outcome="failed"} 0
            demo_outcomes_total{outcome="stop"} 3

            """.ReplaceLineEndings("\n"), exporter.Render());
    }

    [Fact]
    public void AFamilyWithNoSeriesYetStillHasItsHeader()
    {
        using var meter = new Meter("test.exporter");
        meter.CreateCounter<long>("demo_total", description: "Nothing yet.");
        using var exporter = new PrometheusExporter(meter);
        Assert.Equal("# HELP demo_total Nothing yet.\n# TYPE demo_total counter\n", exporter.Render());
    }

    [Fact]
    public void LabelValuesAreEscaped()
    {
        using var meter = new Meter("test.exporter");
        var counter = meter.CreateCounter<int>("demo_total");
        using var exporter = new PrometheusExporter(meter);
        counter.Add(1, new KeyValuePair<string, object?>("path", "a\"b\\c\nd"));
        Assert.Contains("demo_total{path=\"a\\\"b\\\\c\\nd\"} 1\n", exporter.Render());
    }

    [Fact]
    public void OnlyItsOwnMeterIsExportedEvenUnderTheSameName()
    {
        // Two servers in one process each have a meter named "MimoSharp.Server"; neither may see the other's counts.
        using var mine = new Meter("MimoSharp.Server");
        using var other = new Meter("MimoSharp.Server");
        var counted = mine.CreateCounter<long>("demo_total");
        var ignored = other.CreateCounter<long>("demo_total");
        using var exporter = new PrometheusExporter(mine);
        counted.Add(1);
        ignored.Add(5);
        Assert.EndsWith("demo_total 1\n", exporter.Render());
    }
}

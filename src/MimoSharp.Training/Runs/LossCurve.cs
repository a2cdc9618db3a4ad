using System.Globalization;
using System.Text;

namespace MimoSharp.Training.Runs;

/// <summary>Draws the loss curves of a run as a self-contained SVG: training loss, MTP losses, held-out loss.</summary>
public static class LossCurve
{
    public sealed record Series(string Name, string Color, IReadOnlyList<(double Step, double Value)> Points, bool Dots = false);

    public static string Svg(IReadOnlyList<Series> series, string title, string yLabel = "loss (nats/token)", string xLabel = "step")
    {
        const int width = 800, height = 480, left = 64, right = 170, top = 40, bottom = 48;
        var all = series.SelectMany(s => s.Points).Where(p => double.IsFinite(p.Value)).ToList();
        double xMax = all.Count > 0 ? Math.Max(1, all.Max(p => p.Step)) : 1;
        double yMin = all.Count > 0 ? Math.Floor(all.Min(p => p.Value)) : 0;
        double yMax = all.Count > 0 ? Math.Ceiling(all.Max(p => p.Value)) : 1;
        if (yMax <= yMin) yMax = yMin + 1;
        double plotW = width - left - right, plotH = height - top - bottom;
        string X(double step) => F(left + step / xMax * plotW);
        string Y(double v) => F(top + (yMax - v) / (yMax - yMin) * plotH);

        var svg = new StringBuilder();
        svg.Append(CultureInfo.InvariantCulture, $"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" font-family=\"sans-serif\" font-size=\"12\">\n");
        svg.Append("<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n");
        svg.Append(CultureInfo.InvariantCulture, $"<text x=\"{left}\" y=\"24\" font-size=\"15\">{Escape(title)}</text>\n");
        for (int i = 0; i <= 5; i++)
        {
            double v = yMin + (yMax - yMin) * i / 5;
            svg.Append(CultureInfo.InvariantCulture,
                $"<line x1=\"{left}\" x2=\"{left + plotW}\" y1=\"{Y(v)}\" y2=\"{Y(v)}\" stroke=\"#ddd\"/><text x=\"{left - 8}\" y=\"{Y(v)}\" text-anchor=\"end\" dy=\"4\">{v:0.##}</text>\n");
            double s = xMax * i / 5;
            svg.Append(CultureInfo.InvariantCulture,
                $"<text x=\"{X(s)}\" y=\"{top + plotH + 18}\" text-anchor=\"middle\">{s:0}</text>\n");
        }
        svg.Append(CultureInfo.InvariantCulture, $"<rect x=\"{left}\" y=\"{top}\" width=\"{F(plotW)}\" height=\"{F(plotH)}\" fill=\"none\" stroke=\"#333\"/>\n");
        svg.Append(CultureInfo.InvariantCulture, $"<text x=\"{F(left + plotW / 2)}\" y=\"{height - 10}\" text-anchor=\"middle\">{Escape(xLabel)}</text>\n");
        svg.Append(CultureInfo.InvariantCulture, $"<text x=\"16\" y=\"{F(top + plotH / 2)}\" transform=\"rotate(-90 16 {F(top + plotH / 2)})\" text-anchor=\"middle\">{Escape(yLabel)}</text>\n");
        int legend = 0;
        foreach (var s in series)
        {
            var pts = s.Points.Where(p => double.IsFinite(p.Value)).ToList();
            if (pts.Count == 0) continue;
            if (s.Dots)
                foreach (var p in pts) svg.Append(CultureInfo.InvariantCulture, $"<circle cx=\"{X(p.Step)}\" cy=\"{Y(p.Value)}\" r=\"3\" fill=\"{s.Color}\"/>\n");
            svg.Append(CultureInfo.InvariantCulture, $"<polyline fill=\"none\" stroke=\"{s.Color}\" stroke-width=\"1.5\" points=\"");
            foreach (var p in pts) svg.Append(CultureInfo.InvariantCulture, $"{X(p.Step)},{Y(p.Value)} ");
            svg.Append("\"/>\n");
            double ly = top + 12 + legend++ * 18;
            svg.Append(CultureInfo.InvariantCulture,
                $"<line x1=\"{left + plotW + 12}\" x2=\"{left + plotW + 32}\" y1=\"{F(ly)}\" y2=\"{F(ly)}\" stroke=\"{s.Color}\" stroke-width=\"2\"/><text x=\"{left + plotW + 38}\" y=\"{F(ly)}\" dy=\"4\">{Escape(s.Name)}</text>\n");
        }
        svg.Append("</svg>\n");
        return svg.ToString();
    }

    private static string F(double v) => v.ToString("0.#", CultureInfo.InvariantCulture);

    private static string Escape(string s) => s.Replace("&", "&amp;").Replace("<", "&lt;").Replace(">", "&gt;");
}

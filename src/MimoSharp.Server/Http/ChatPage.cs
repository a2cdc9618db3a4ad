using System.Collections.Frozen;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace MimoSharp.Server.Http;

/// <summary>
/// GET / : the browser chat page (Web/index.html) and its assets, embedded in this assembly so the page works
/// with no network. Every response carries a strict Content-Security-Policy: scripts, styles and requests
/// only from this server, no inline script, no plugins, no framing — so even text that slipped into the DOM
/// as markup could not run or call out.
/// </summary>
internal static class ChatPage
{
    private const string ResourcePrefix = "MimoSharp.Server.Web.";

    public const string ContentSecurityPolicy =
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; connect-src 'self'; " +
        "object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

    private static readonly FrozenDictionary<string, string> ContentTypes = new Dictionary<string, string>
    {
        [".html"] = "text/html; charset=utf-8",
        [".js"] = "text/javascript; charset=utf-8",
        [".css"] = "text/css; charset=utf-8",
        [".svg"] = "image/svg+xml",
        [".woff2"] = "font/woff2",
    }.ToFrozenDictionary();

    /// <summary>Every embedded asset by the path it is served at ("/" for index.html).</summary>
    public static readonly Lazy<FrozenDictionary<string, (string ContentType, byte[] Body)>> Assets = new(Load);

    public static void Map(WebApplication app)
    {
        foreach (var (path, asset) in Assets.Value)
            app.MapMethods(path, [HttpMethods.Get, HttpMethods.Head], context => WriteAsync(context, asset.ContentType, asset.Body));
    }

    private static FrozenDictionary<string, (string, byte[])> Load()
    {
        var assembly = typeof(ChatPage).Assembly;
        var assets = new Dictionary<string, (string, byte[])>();
        foreach (string name in assembly.GetManifestResourceNames())
        {
            if (!name.StartsWith(ResourcePrefix, StringComparison.Ordinal)) continue;
            string file = name[ResourcePrefix.Length..];
            if (!ContentTypes.TryGetValue(Path.GetExtension(file), out var type))
                throw new InvalidOperationException($"the chat page asset {file} has no known content type; add its extension to ChatPage.ContentTypes");
            using var stream = assembly.GetManifestResourceStream(name)!;
            var body = new byte[stream.Length];
            stream.ReadExactly(body);
            assets[file == "index.html" ? "/" : "/" + file] = (type, body);
        }
        if (!assets.ContainsKey("/"))
            throw new InvalidOperationException($"the chat page is not embedded in {assembly.GetName().Name} (no {ResourcePrefix}index.html)");
        return assets.ToFrozenDictionary();
    }

    private static async Task WriteAsync(HttpContext context, string contentType, byte[] body)
    {
        var headers = context.Response.Headers;
        headers.ContentSecurityPolicy = ContentSecurityPolicy;
        headers.XContentTypeOptions = "nosniff";
        headers["Referrer-Policy"] = "no-referrer";
        headers.CacheControl = "no-cache";
        context.Response.ContentType = contentType;
        context.Response.ContentLength = body.Length;
        if (HttpMethods.IsHead(context.Request.Method)) return;
        await context.Response.Body.WriteAsync(body, context.RequestAborted);
    }
}

using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Http;

namespace MimoSharp.Server.Http;

/// <summary>
/// The API key a client must send as <c>Authorization: Bearer KEY</c>. Compared in constant time: both sides are
/// hashed to 32 bytes first, so neither the key's length nor the position of the first wrong byte shows in the
/// time an answer takes.
/// </summary>
public sealed class ApiKeyCheck(string key)
{
    private readonly byte[] _expected = SHA256.HashData(Encoding.UTF8.GetBytes(key));

    /// <summary>Whether an Authorization header value carries this key.</summary>
    public bool Accepts(string? authorization)
    {
        const string scheme = "Bearer ";
        string presented = authorization is not null && authorization.StartsWith(scheme, StringComparison.OrdinalIgnoreCase)
            ? authorization[scheme.Length..].Trim()
            : "";
        // A missing key still costs one hash and one comparison: the answer takes the same time either way.
        bool matches = CryptographicOperations.FixedTimeEquals(SHA256.HashData(Encoding.UTF8.GetBytes(presented)), _expected);
        return matches && presented.Length > 0;
    }

    /// <summary>Paths anyone may read: the health probe and the chat page's own files (its API calls carry the key).</summary>
    public static bool IsPublic(PathString path) =>
        path == "/health" || !(path.StartsWithSegments("/v1") || path.StartsWithSegments("/metrics"));
}

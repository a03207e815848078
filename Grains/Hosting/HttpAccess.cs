using System.Security.Cryptography;
using System.Text;

namespace ActorCluster.Grains.Hosting;

/// <summary>
/// Who may read a silo's web endpoints: with a token configured, every request but the health
/// probes (and, unless protected too, the Prometheus scrape) must carry it, as
/// <c>Authorization: Bearer &lt;token&gt;</c> or as the password of HTTP basic authentication (any
/// user name: what a browser asks for); without one, anybody may. Comparisons take the same time
/// whatever the guess.
/// </summary>
public sealed class HttpAccess
{
    private readonly byte[]? _token;
    private readonly bool _protectMetrics;

    /// <summary>The realm a browser shows when it asks for the token.</summary>
    public const string Realm = "ActorCluster";

    /// <summary>Paths served to anybody: Kubernetes' probes carry no credentials.</summary>
    public static readonly IReadOnlySet<string> OpenPaths = new HashSet<string>(StringComparer.Ordinal) { "/healthz", "/readyz" };

    /// <summary>Access with <paramref name="token"/> (null or empty: open to all).</summary>
    public HttpAccess(string? token, bool protectMetrics)
    {
        // A token read from a file (a Kubernetes secret made --from-file) usually ends in a newline.
        token = token?.Trim();
        _token = string.IsNullOrEmpty(token) ? null : Encoding.UTF8.GetBytes(token);
        _protectMetrics = protectMetrics;
    }

    /// <summary>Whether any credentials are asked for at all.</summary>
    public bool Protected => _token is not null;

    /// <summary>Whether a request for <paramref name="path"/> with this Authorization header may be served.</summary>
    public bool Allows(string path, string? authorization)
    {
        if (_token is null || OpenPaths.Contains(path) || (!_protectMetrics && path == "/metrics"))
        {
            return true;
        }

        if (authorization is null)
        {
            return false;
        }

        if (authorization.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase))
        {
            return Matches(authorization["Bearer ".Length..].Trim());
        }

        if (authorization.StartsWith("Basic ", StringComparison.OrdinalIgnoreCase))
        {
            string decoded;
            try
            {
                decoded = Encoding.UTF8.GetString(Convert.FromBase64String(authorization["Basic ".Length..].Trim()));
            }
            catch (FormatException)
            {
                return false;
            }

            var colon = decoded.IndexOf(':', StringComparison.Ordinal);
            return colon >= 0 && Matches(decoded[(colon + 1)..]);
        }

        return false;
    }

    private bool Matches(string offered) =>
        CryptographicOperations.FixedTimeEquals(SHA256.HashData(Encoding.UTF8.GetBytes(offered)), SHA256.HashData(_token!));
}

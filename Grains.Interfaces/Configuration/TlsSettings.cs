using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace ActorCluster.Grains.Interfaces.Configuration;

/// <summary>
/// Transport security (configuration section <c>ActorCluster:Tls</c>): mutual TLS with pinned
/// certificates, and two kinds of them. Silos hold the silos' certificate; on the silo port they
/// present it and accept only silo certificates (their own and <see cref="TrustedThumbprints"/>).
/// Clients hold client certificates; a silo's gateway presents the silo certificate and accepts
/// only the client certificates named in <see cref="ClientThumbprints"/>. A client presents its
/// own certificate and accepts only the silo certificates named in its
/// <see cref="TrustedThumbprints"/>. So a client certificate never opens the silo port, and a
/// silo certificate never needs to leave the silos. Off when <see cref="CertificatePath"/> is not set.
/// </summary>
public sealed class TlsSettings
{
    /// <summary>The configuration section.</summary>
    public const string Section = "ActorCluster:Tls";

    /// <summary>This end's certificate with its private key: a PKCS#12 (.pfx) file.</summary>
    public string? CertificatePath { get; set; }

    /// <summary>The password of <see cref="CertificatePath"/>, if it has one.</summary>
    public string? CertificatePassword { get; set; }

    /// <summary>
    /// On a silo: more silo certificates to accept on the silo port (besides its own, which its
    /// peers share), by SHA-256 thumbprint (hex), comma-separated. On a client: the silo
    /// certificates it accepts from gateways.
    /// </summary>
    public string? TrustedThumbprints { get; set; }

    /// <summary>On a silo: the client certificates its gateway accepts, by SHA-256 thumbprint (hex), comma-separated.</summary>
    public string? ClientThumbprints { get; set; }

    /// <summary>Whether TLS is on.</summary>
    public bool Enabled => !string.IsNullOrEmpty(CertificatePath);

    /// <summary>Loads the certificate; throws <see cref="ArgumentException"/> naming the setting when it cannot.</summary>
    public X509Certificate2 LoadCertificate()
    {
        if (!Enabled)
        {
            throw new ArgumentException($"{Section}:CertificatePath is not set.");
        }

        X509Certificate2 certificate;
        try
        {
            certificate = X509CertificateLoader.LoadPkcs12FromFile(CertificatePath!, CertificatePassword);
        }
        catch (Exception e) when (e is CryptographicException or IOException or UnauthorizedAccessException)
        {
            throw new ArgumentException($"{Section}:CertificatePath '{CertificatePath}' cannot be loaded as a PKCS#12 certificate: {e.Message}", e);
        }

        if (!certificate.HasPrivateKey)
        {
            certificate.Dispose();
            throw new ArgumentException($"{Section}:CertificatePath '{CertificatePath}' has no private key: this end could not prove it holds the certificate.");
        }

        return certificate;
    }

    /// <summary>The silo certificates a silo accepts on its silo port: its own, <paramref name="own"/>, and <see cref="TrustedThumbprints"/>.</summary>
    public IReadOnlySet<string> TrustedSilos(X509Certificate2 own)
    {
        ArgumentNullException.ThrowIfNull(own);
        var trusted = Parse(TrustedThumbprints, nameof(TrustedThumbprints));
        trusted.Add(Thumbprint(own));
        return trusted;
    }

    /// <summary>
    /// The client certificates a silo's gateway accepts (<see cref="ClientThumbprints"/>). Throws
    /// <see cref="ArgumentException"/> naming the setting when there are none (no client could
    /// connect) or when one of them is a silo certificate (a client holding it could open the silo port).
    /// </summary>
    public IReadOnlySet<string> TrustedClients(X509Certificate2 own)
    {
        ArgumentNullException.ThrowIfNull(own);
        var clients = Parse(ClientThumbprints, nameof(ClientThumbprints));
        if (clients.Count == 0)
        {
            throw new ArgumentException($"{Section}:ClientThumbprints is empty: with TLS on, the gateway accepts only the client certificates named there (SHA-256 thumbprints), so no client could connect.");
        }

        if (TrustedSilos(own).FirstOrDefault(clients.Contains) is { } silo)
        {
            throw new ArgumentException($"{Section}:ClientThumbprints names {silo}, a silo certificate: a client holding it could connect to the silo port as a silo. Give clients certificates of their own.");
        }

        return clients;
    }

    /// <summary>
    /// The silo certificates a client accepts from gateways (<see cref="TrustedThumbprints"/>).
    /// Throws <see cref="ArgumentException"/> naming the setting when there are none.
    /// </summary>
    public IReadOnlySet<string> TrustedGateways()
    {
        var silos = Parse(TrustedThumbprints, nameof(TrustedThumbprints));
        if (silos.Count == 0)
        {
            throw new ArgumentException($"{Section}:TrustedThumbprints is empty: a client accepts only the silo certificates named there (SHA-256 thumbprints), so it could connect to no gateway.");
        }

        return silos;
    }

    /// <summary>Thumbprints as a set, colons dropped; throws <see cref="ArgumentException"/> for one that is not a SHA-256 thumbprint.</summary>
    private static HashSet<string> Parse(string? thumbprints, string setting)
    {
        var set = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        foreach (var entry in (thumbprints ?? string.Empty).Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var thumbprint = entry.Replace(":", string.Empty, StringComparison.Ordinal);
            if (thumbprint.Length != 64 || !thumbprint.All(char.IsAsciiHexDigit))
            {
                // A mistyped thumbprint would silently keep out the certificate it meant to let in.
                throw new ArgumentException($"{Section}:{setting} holds '{entry}', which is not a SHA-256 thumbprint (64 hex digits, colons allowed).");
            }

            set.Add(thumbprint);
        }

        return set;
    }

    /// <summary>A certificate's SHA-256 thumbprint, hex.</summary>
    public static string Thumbprint(X509Certificate2 certificate)
    {
        ArgumentNullException.ThrowIfNull(certificate);
        return certificate.GetCertHashString(HashAlgorithmName.SHA256);
    }

    /// <summary>
    /// Whether the other end's certificate is one this end trusts. Only pinned certificates count:
    /// a certificate that a public authority vouches for but that is not pinned is refused, since
    /// anyone can get one of those.
    /// </summary>
    public static bool Accepts(X509Certificate2? remote, SslPolicyErrors errors, IReadOnlySet<string> trusted)
    {
        ArgumentNullException.ThrowIfNull(trusted);
        if (remote is null || (errors & SslPolicyErrors.RemoteCertificateNotAvailable) != 0)
        {
            return false;
        }

        return trusted.Contains(Thumbprint(remote)) && DateTime.UtcNow >= remote.NotBefore.ToUniversalTime() && DateTime.UtcNow <= remote.NotAfter.ToUniversalTime();
    }
}

using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace ActorCluster.Grains.Interfaces.Configuration;

/// <summary>
/// Transport security for silo-to-silo and client-to-gateway connections (configuration section
/// <c>ActorCluster:Tls</c>). Both ends present a certificate (mutual TLS) and accept only the
/// certificates they trust: their own (a cluster whose silos and clients share one certificate, a
/// Kubernetes secret say) and those named by SHA-256 thumbprint in <see cref="TrustedThumbprints"/>.
/// Off when <see cref="CertificatePath"/> is not set.
/// </summary>
public sealed class TlsSettings
{
    /// <summary>The configuration section.</summary>
    public const string Section = "ActorCluster:Tls";

    /// <summary>This end's certificate with its private key: a PKCS#12 (.pfx) file.</summary>
    public string? CertificatePath { get; set; }

    /// <summary>The password of <see cref="CertificatePath"/>, if it has one.</summary>
    public string? CertificatePassword { get; set; }

    /// <summary>More certificates to accept, by SHA-256 thumbprint (hex), comma-separated.</summary>
    public string? TrustedThumbprints { get; set; }

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

    /// <summary>The SHA-256 thumbprints accepted from the other end: <paramref name="own"/>'s and <see cref="TrustedThumbprints"/>.</summary>
    public IReadOnlySet<string> Trusted(X509Certificate2 own)
    {
        ArgumentNullException.ThrowIfNull(own);
        var trusted = new HashSet<string>(StringComparer.OrdinalIgnoreCase) { Thumbprint(own) };
        foreach (var thumbprint in (TrustedThumbprints ?? string.Empty).Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            trusted.Add(thumbprint.Replace(":", string.Empty, StringComparison.Ordinal));
        }

        return trusted;
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

using System.Security.Cryptography.X509Certificates;
using ActorCluster.Grains.Interfaces.Configuration;
using Orleans.Connections.Security;

namespace ActorCluster.Grains.Hosting;

/// <summary>Mutual TLS on a silo's connections (to other silos and from clients), from <see cref="TlsSettings"/>.</summary>
public static class ClusterTls
{
    /// <summary>The name both ends present and expect in the TLS handshake.</summary>
    public const string ServerName = "actorcluster";

    /// <summary>
    /// Requires TLS with <paramref name="certificate"/> on every silo connection; the other end must
    /// present a certificate <paramref name="settings"/> trusts, and is refused otherwise.
    /// </summary>
    public static ISiloBuilder UseClusterTls(this ISiloBuilder silo, TlsSettings settings, X509Certificate2 certificate)
    {
        ArgumentNullException.ThrowIfNull(silo);
        ArgumentNullException.ThrowIfNull(settings);
        ArgumentNullException.ThrowIfNull(certificate);
        var trusted = settings.Trusted(certificate);
        return silo.UseTls(certificate, options => Configure(options, trusted));
    }

    /// <summary>The TLS options both silos and clients use: certificates required both ways, pinned ones only.</summary>
    public static void Configure(TlsOptions options, IReadOnlySet<string> trusted)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.RemoteCertificateMode = RemoteCertificateMode.RequireCertificate;
        options.ClientCertificateMode = RemoteCertificateMode.RequireCertificate;
        options.RemoteCertificateValidation = (remote, _, errors) => TlsSettings.Accepts(remote, errors, trusted);
        options.OnAuthenticateAsClient = (_, ssl) => ssl.TargetHost = ServerName;
    }
}

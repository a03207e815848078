using System.Security.Cryptography.X509Certificates;
using ActorCluster.Grains.Interfaces.Configuration;
using Orleans.Configuration;
using Orleans.Connections.Security;

namespace ActorCluster.Grains.Hosting;

/// <summary>
/// Mutual TLS on a silo's connections, from <see cref="TlsSettings"/>: the silo port (to and from
/// other silos) takes silo certificates only, the gateway port client certificates only.
/// </summary>
public static class ClusterTls
{
    /// <summary>The name both ends present and expect in the TLS handshake.</summary>
    public const string ServerName = "actorcluster";

    /// <summary>
    /// Requires TLS with <paramref name="certificate"/> (the silos' certificate) on every silo
    /// connection. Connections between silos must present a silo certificate
    /// (<see cref="TlsSettings.TrustedSilos"/>), connections to the gateway a client certificate
    /// (<see cref="TlsSettings.TrustedClients"/>); anything else is refused in the handshake.
    /// </summary>
    /// <exception cref="ArgumentException">The client trust set is empty or names a silo certificate.</exception>
    public static ISiloBuilder UseClusterTls(this ISiloBuilder silo, TlsSettings settings, X509Certificate2 certificate)
    {
        ArgumentNullException.ThrowIfNull(silo);
        ArgumentNullException.ThrowIfNull(settings);
        ArgumentNullException.ThrowIfNull(certificate);
        var silos = Options(certificate, settings.TrustedSilos(certificate));
        var clients = Options(certificate, settings.TrustedClients(certificate));
        return silo.Configure<SiloConnectionOptions>(connections =>
        {
            connections.ConfigureSiloInboundConnection(builder => builder.UseServerTls(silos));
            connections.ConfigureSiloOutboundConnection(builder => builder.UseClientTls(silos));
            connections.ConfigureGatewayInboundConnection(builder => builder.UseServerTls(clients));
        });
    }

    /// <summary>TLS options presenting <paramref name="certificate"/> and accepting only <paramref name="trusted"/> certificates, required both ways.</summary>
    public static TlsOptions Options(X509Certificate2 certificate, IReadOnlySet<string> trusted)
    {
        var options = new TlsOptions { LocalCertificate = certificate };
        Configure(options, trusted);
        return options;
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

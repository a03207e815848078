using ActorCluster.Grains.Interfaces.Configuration;
using Orleans.Connections.Security;

namespace ActorCluster.Cli;

/// <summary>The client's half of the cluster's mutual TLS: present a client certificate, accept only pinned silo certificates.</summary>
internal static class ClientTls
{
    /// <summary>The name the silos present (as they set it themselves).</summary>
    public const string ServerName = "actorcluster";

    /// <summary>
    /// Configures an Orleans client for the cluster's TLS from <paramref name="settings"/>: present
    /// the client's certificate, accept only the silo certificates it names.
    /// </summary>
    /// <exception cref="ArgumentException">The certificate cannot be loaded, or no silo certificate is named.</exception>
    public static Action<IClientBuilder> Configure(TlsSettings settings)
    {
        var trusted = settings.TrustedGateways();
        var certificate = settings.LoadCertificate();
        return client => client.UseTls(certificate, options =>
        {
            options.RemoteCertificateMode = RemoteCertificateMode.RequireCertificate;
            options.RemoteCertificateValidation = (remote, _, errors) => TlsSettings.Accepts(remote, errors, trusted);
            options.OnAuthenticateAsClient = (_, ssl) => ssl.TargetHost = ServerName;
        });
    }
}

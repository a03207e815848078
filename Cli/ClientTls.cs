using ActorCluster.Grains.Interfaces.Configuration;
using Orleans.Connections.Security;

namespace ActorCluster.Cli;

/// <summary>The client's half of the cluster's mutual TLS: present the certificate, accept only pinned ones.</summary>
internal static class ClientTls
{
    /// <summary>The name the silos present (as they set it themselves).</summary>
    public const string ServerName = "actorcluster";

    /// <summary>Configures an Orleans client for the cluster's TLS from <paramref name="settings"/>.</summary>
    public static Action<IClientBuilder> Configure(TlsSettings settings)
    {
        var certificate = settings.LoadCertificate();
        var trusted = settings.Trusted(certificate);
        return client => client.UseTls(certificate, options =>
        {
            options.RemoteCertificateMode = RemoteCertificateMode.RequireCertificate;
            options.RemoteCertificateValidation = (remote, _, errors) => TlsSettings.Accepts(remote, errors, trusted);
            options.OnAuthenticateAsClient = (_, ssl) => ssl.TargetHost = ServerName;
        });
    }
}

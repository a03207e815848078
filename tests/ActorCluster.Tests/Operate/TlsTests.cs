using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using ActorCluster.Cli;
using ActorCluster.Client;
using ActorCluster.Grains.Interfaces.Configuration;
using ActorCluster.Tests.Processes;

namespace ActorCluster.Tests.Operate;

/// <summary>Mutual TLS between silos and from clients, with certificates generated here.</summary>
public sealed class TlsTests
{
    private static X509Certificate2 SelfSigned(string name, DateTimeOffset? notAfter = null)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={name}", key, HashAlgorithmName.SHA256);
        return request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), notAfter ?? DateTimeOffset.UtcNow.AddDays(1));
    }

    private static string Save(X509Certificate2 certificate, string directory, string name, string? password = null)
    {
        var path = Path.Combine(directory, name + ".pfx");
        File.WriteAllBytes(path, certificate.Export(X509ContentType.Pkcs12, password));
        return path;
    }

    [Fact]
    public void Only_pinned_certificates_that_are_in_date_are_accepted()
    {
        using var own = SelfSigned("cluster");
        using var other = SelfSigned("other");
        using var expired = SelfSigned("old", DateTimeOffset.UtcNow.AddMinutes(-1));
        var settings = new TlsSettings { CertificatePath = "x", TrustedThumbprints = $" {TlsSettings.Thumbprint(expired)} ,AA:BB" };
        var trusted = settings.Trusted(own);

        Assert.True(TlsSettings.Accepts(own, SslPolicyErrors.RemoteCertificateChainErrors, trusted));
        Assert.False(TlsSettings.Accepts(other, SslPolicyErrors.None, trusted));
        Assert.False(TlsSettings.Accepts(expired, SslPolicyErrors.None, trusted));
        Assert.False(TlsSettings.Accepts(null, SslPolicyErrors.RemoteCertificateNotAvailable, trusted));
        Assert.Contains("AABB", trusted);
    }

    [Fact]
    public void A_certificate_that_cannot_be_used_is_refused_by_its_setting()
    {
        var directory = Directory.CreateTempSubdirectory("actorcluster-tls-").FullName;
        try
        {
            var missing = Assert.Throws<ArgumentException>(() => new TlsSettings { CertificatePath = Path.Combine(directory, "none.pfx") }.LoadCertificate());
            Assert.Contains("ActorCluster:Tls:CertificatePath", missing.Message, StringComparison.Ordinal);

            using var certificate = SelfSigned("cluster");
            var publicOnly = Path.Combine(directory, "public.pfx");
            using (var withoutKey = X509CertificateLoader.LoadCertificate(certificate.Export(X509ContentType.Cert)))
            {
                File.WriteAllBytes(publicOnly, withoutKey.Export(X509ContentType.Pkcs12));
            }

            Assert.Contains("no private key", Assert.Throws<ArgumentException>(() => new TlsSettings { CertificatePath = publicOnly }.LoadCertificate()).Message, StringComparison.Ordinal);
            var withPassword = Save(certificate, directory, "locked", "pw");
            Assert.Throws<ArgumentException>(() => new TlsSettings { CertificatePath = withPassword, CertificatePassword = "wrong" }.LoadCertificate());
            using var loaded = new TlsSettings { CertificatePath = withPassword, CertificatePassword = "pw" }.LoadCertificate();
            Assert.True(loaded.HasPrivateKey);
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [Fact]
    public async Task Silos_talk_over_mutual_tls_and_only_a_client_with_the_clusters_certificate_gets_in()
    {
        var directory = Directory.CreateTempSubdirectory("actorcluster-tls-").FullName;
        try
        {
            using var cluster = SelfSigned("cluster");
            using var stranger = SelfSigned("stranger");
            var clusterPfx = Save(cluster, directory, "cluster", "pw");
            var strangerPfx = Save(stranger, directory, "stranger");
            var siloPort = Programs.FreePortBlock(3);
            var gatewayPort = Programs.FreePortBlock(3);
            // Three silos in one process still connect to each other over TCP: the cluster forms,
            // and every shard elects a leader across silos, only if silo-to-silo TLS works.
            await using var silos = ChildProcess.Start(Programs.SiloDll, Programs.SiloArguments(Path.Combine(directory, "data"), 3, siloPort, gatewayPort, 0, "--tls-certificate", clusterPfx, "--tls-password", "pw"));
            await silos.WaitForOutputAsync("Press Ctrl+C", TimeSpan.FromSeconds(90));

            var gateways = Enumerable.Range(0, 3).Select(i => $"127.0.0.1:{gatewayPort + i}").ToList();
            ActorClusterClientOptions Options(Action<IClientBuilder>? configure)
            {
                var options = new ActorClusterClientOptions { TimeoutMilliseconds = 5_000, ConfigureClient = configure };
                gateways.ForEach(options.Gateways.Add);
                return options;
            }

            await using (var client = await ActorClusterClient.ConnectAsync(Options(ClientTls.Configure(new TlsSettings { CertificatePath = clusterPfx, CertificatePassword = "pw" }))))
            {
                var version = await client.PutAsync("secure", [1, 2, 3]);
                Assert.Equal(version, (await client.GetAsync("secure"))!.Value.Version);
            }

            // Without TLS, and with a certificate the cluster does not trust: no way in.
            await Assert.ThrowsAsync<ClusterUnavailableException>(() => ActorClusterClient.ConnectAsync(Options(null)));
            await Assert.ThrowsAsync<ClusterUnavailableException>(() => ActorClusterClient.ConnectAsync(Options(ClientTls.Configure(new TlsSettings { CertificatePath = strangerPfx }))));
            // A stranger that trusts the silos (so the refusal is theirs, not its own).
            var trusting = new TlsSettings { CertificatePath = strangerPfx, TrustedThumbprints = TlsSettings.Thumbprint(cluster) };
            await Assert.ThrowsAsync<ClusterUnavailableException>(() => ActorClusterClient.ConnectAsync(Options(ClientTls.Configure(trusting))));
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }
}

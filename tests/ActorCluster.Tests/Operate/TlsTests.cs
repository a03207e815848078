using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using ActorCluster.Cli;
using ActorCluster.Client;
using ActorCluster.Grains.Interfaces;
using ActorCluster.Grains.Interfaces.Configuration;
using ActorCluster.Tests.Processes;

namespace ActorCluster.Tests.Operate;

/// <summary>Mutual TLS between silos (silo certificates) and from clients (client certificates), with certificates generated here.</summary>
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
        using var listed = SelfSigned("listed");
        var withColons = string.Join(':', TlsSettings.Thumbprint(listed).Chunk(2).Select(pair => new string(pair)));
        var settings = new TlsSettings { CertificatePath = "x", TrustedThumbprints = $" {TlsSettings.Thumbprint(expired)} ,{withColons}" };
        var trusted = settings.TrustedSilos(own);

        Assert.True(TlsSettings.Accepts(own, SslPolicyErrors.RemoteCertificateChainErrors, trusted));
        Assert.False(TlsSettings.Accepts(other, SslPolicyErrors.None, trusted));
        Assert.False(TlsSettings.Accepts(expired, SslPolicyErrors.None, trusted));
        Assert.False(TlsSettings.Accepts(null, SslPolicyErrors.RemoteCertificateNotAvailable, trusted));
        Assert.True(TlsSettings.Accepts(listed, SslPolicyErrors.None, trusted));
        // A mistyped thumbprint stops the silo by its setting instead of silently keeping a certificate out.
        var typo = Assert.Throws<ArgumentException>(() => new TlsSettings { CertificatePath = "x", TrustedThumbprints = "AA:BB" }.TrustedSilos(own));
        Assert.Contains("ActorCluster:Tls:TrustedThumbprints", typo.Message, StringComparison.Ordinal);
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
    public void Silo_and_client_certificates_are_two_trust_sets_and_a_gateway_no_client_could_pass_is_refused()
    {
        using var silo = SelfSigned("silo");
        using var peer = SelfSigned("peer-silo");
        using var client = SelfSigned("client");
        var settings = new TlsSettings { CertificatePath = "x", TrustedThumbprints = TlsSettings.Thumbprint(peer), ClientThumbprints = TlsSettings.Thumbprint(client) };
        Assert.Equal(new[] { TlsSettings.Thumbprint(peer), TlsSettings.Thumbprint(silo) }.Order(), settings.TrustedSilos(silo).Order());
        Assert.Equal([TlsSettings.Thumbprint(client)], settings.TrustedClients(silo));

        var none = Assert.Throws<ArgumentException>(() => new TlsSettings { CertificatePath = "x" }.TrustedClients(silo));
        Assert.Contains("ActorCluster:Tls:ClientThumbprints", none.Message, StringComparison.Ordinal);
        // A silo certificate in the client set would let a client open the silo port.
        var mixed = Assert.Throws<ArgumentException>(() => new TlsSettings { CertificatePath = "x", TrustedThumbprints = TlsSettings.Thumbprint(peer), ClientThumbprints = TlsSettings.Thumbprint(peer) }.TrustedClients(silo));
        Assert.Contains("silo certificate", mixed.Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentException>(() => new TlsSettings { CertificatePath = "x", ClientThumbprints = TlsSettings.Thumbprint(silo) }.TrustedClients(silo));
        // A client trusts only the silo certificates it names, never its own by default.
        Assert.Contains("ActorCluster:Tls:TrustedThumbprints", Assert.Throws<ArgumentException>(() => new TlsSettings { CertificatePath = "x" }.TrustedGateways()).Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Silos_take_silo_certificates_on_the_silo_port_and_client_certificates_on_the_gateway()
    {
        var directory = Directory.CreateTempSubdirectory("actorcluster-tls-").FullName;
        try
        {
            using var silo = SelfSigned("silo");
            using var client = SelfSigned("client");
            using var stranger = SelfSigned("stranger");
            var siloPfx = Save(silo, directory, "silo", "pw");
            var clientPfx = Save(client, directory, "client");
            var strangerPfx = Save(stranger, directory, "stranger");
            var siloThumbprint = TlsSettings.Thumbprint(silo);
            var clientThumbprint = TlsSettings.Thumbprint(client);
            var siloPort = Programs.FreePortBlock(3);
            var gatewayPort = Programs.FreePortBlock(3);

            // No client certificate named, or a silo certificate among them: the silo does not start.
            var (noClients, _, noClientsErrors) = await ChildProcess.RunAsync(Programs.SiloDll, Programs.SiloArguments(Path.Combine(directory, "refused"), 1, siloPort, gatewayPort, 0, "--tls-certificate", siloPfx, "--tls-password", "pw"), TimeSpan.FromSeconds(60));
            Assert.Equal(2, noClients);
            Assert.Contains("ActorCluster:Tls:ClientThumbprints", noClientsErrors, StringComparison.Ordinal);
            var (mixed, _, _) = await ChildProcess.RunAsync(Programs.SiloDll, Programs.SiloArguments(Path.Combine(directory, "refused"), 1, siloPort, gatewayPort, 0, "--tls-certificate", siloPfx, "--tls-password", "pw", "--tls-clients", $"{clientThumbprint},{siloThumbprint}"), TimeSpan.FromSeconds(60));
            Assert.Equal(2, mixed);

            // Three silos in one process still connect to each other over TCP: the cluster forms,
            // and every shard elects a leader across silos, only if silo-to-silo TLS works.
            await using var silos = ChildProcess.Start(Programs.SiloDll, Programs.SiloArguments(Path.Combine(directory, "data"), 3, siloPort, gatewayPort, 0, "--tls-certificate", siloPfx, "--tls-password", "pw", "--tls-clients", clientThumbprint));
            await silos.WaitForOutputAsync("Press Ctrl+C", TimeSpan.FromSeconds(90));

            var gateways = Enumerable.Range(0, 3).Select(i => $"127.0.0.1:{gatewayPort + i}").ToList();
            ActorClusterClientOptions Options(Action<IClientBuilder>? configure)
            {
                var options = new ActorClusterClientOptions { TimeoutMilliseconds = 5_000, ConfigureClient = configure };
                gateways.ForEach(options.Gateways.Add);
                return options;
            }

            TlsSettings Client(string pfx, string? password = null) => new() { CertificatePath = pfx, CertificatePassword = password, TrustedThumbprints = siloThumbprint };
            await using (var connected = await ActorClusterClient.ConnectAsync(Options(ClientTls.Configure(Client(clientPfx)))))
            {
                var version = await connected.PutAsync("secure", [1, 2, 3]);
                Assert.Equal(version, (await connected.GetAsync("secure"))!.Value.Version);
            }

            // Without TLS, with a certificate the gateways do not take (a stranger's, or the silos'
            // own: a silo certificate is not a client certificate): no way in. Each trusts the silos,
            // so the refusal is theirs.
            await Assert.ThrowsAsync<ClusterUnavailableException>(() => ActorClusterClient.ConnectAsync(Options(null)));
            await Assert.ThrowsAsync<ClusterUnavailableException>(() => ActorClusterClient.ConnectAsync(Options(ClientTls.Configure(Client(strangerPfx)))));
            await Assert.ThrowsAsync<ClusterUnavailableException>(() => ActorClusterClient.ConnectAsync(Options(ClientTls.Configure(Client(siloPfx, "pw")))));

            // The silo port takes the silo certificate, and refuses the client's: a client cannot
            // connect where silos do and speak as one.
            var (accepted, why) = await SiloPortAcceptsAsync(siloPort, silo, silo);
            Assert.True(accepted, $"the silo port takes the silo certificate ({why})");
            (accepted, why) = await SiloPortAcceptsAsync(siloPort, client, silo);
            Assert.False(accepted, $"the silo port refuses a client certificate ({why})");

            // A client with a client certificate that rewrites its messages' sender to a grain's id
            // is cut off at the gateway; the ring keeps its record.
            var forgery = new Security.SenderForgery();
            var forging = Options(builder =>
            {
                ClientTls.Configure(Client(clientPfx))(builder);
                forgery.AddTo(builder);
            });
            await using (var hostile = await ActorClusterClient.ConnectAsync(forging))
            {
                var ring = hostile.Cluster.GetGrain<IRingGrain>(IRingGrain.DefaultKey);
                var members = (await ring.GetMembers(0))!;
                await Assert.ThrowsAsync<UnauthorizedAccessException>(() => ring.ReportMembers(0, members with { ConfigIndex = ulong.MaxValue }));
                forgery.Sender = GrainId.Create("raftreplica", "0/1@0000000000000001");
                Assert.NotNull(await Record.ExceptionAsync(() => ring.ReportMembers(0, members with { ConfigIndex = ulong.MaxValue }).WaitAsync(TimeSpan.FromSeconds(15))));
                Assert.True(forgery.Forged >= 1);
            }

            await using (var honest = await ActorClusterClient.ConnectAsync(Options(ClientTls.Configure(Client(clientPfx)))))
            {
                var kept = (await honest.Cluster.GetGrain<IRingGrain>(IRingGrain.DefaultKey).GetMembers(0))!;
                Assert.NotEqual(ulong.MaxValue, kept.ConfigIndex);
                Assert.Equal([1, 2, 3], (await honest.GetAsync("secure"))!.Value.Value);
            }

            Assert.Contains("Closed the gateway connection", silos.Output, StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    /// <summary>
    /// Whether the silo port, over TLS with <paramref name="certificate"/>, keeps the connection
    /// open (it waits for the connecting silo's preamble) rather than refusing the certificate.
    /// </summary>
    private static async Task<(bool Accepted, string How)> SiloPortAcceptsAsync(int port, X509Certificate2 certificate, X509Certificate2 expectedServer)
    {
        using var tcp = new System.Net.Sockets.TcpClient();
        await tcp.ConnectAsync(System.Net.IPAddress.Loopback, port);
        var server = TlsSettings.Thumbprint(expectedServer);
        await using var ssl = new SslStream(tcp.GetStream(), leaveInnerStreamOpen: false, (_, presented, _, _) => presented?.GetCertHashString(HashAlgorithmName.SHA256) == server);
        try
        {
            await ssl.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
            {
                TargetHost = "actorcluster",
                ClientCertificates = [certificate],
            });
            // TLS 1.3 refuses a client certificate after the handshake: the refusal arrives as the
            // first read. An accepted silo is waited on (or greeted), and the read times out or
            // returns data.
            var read = await ssl.ReadAsync(new byte[1]).AsTask().WaitAsync(TimeSpan.FromSeconds(3));
            return (read > 0, read > 0 ? "greeted" : "closed");
        }
        catch (TimeoutException)
        {
            return (true, "waited on");
        }
        catch (Exception e) when (e is System.Security.Authentication.AuthenticationException or IOException)
        {
            return (false, $"{e.GetType().Name}: {e.Message}");
        }
    }
}

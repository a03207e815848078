using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json;
using ActorCluster.Tests.Processes;

namespace ActorCluster.Tests.Operate;

/// <summary>
/// The Kubernetes manifest is valid against the API schemas (kubernetes-models, which test.sh
/// installs with npm), and agrees with the silo: its ports, probe paths, settings and mounts.
/// </summary>
public sealed class ManifestTests
{
    private static readonly string Root = PurityTests.RepositoryRoot();
    private static readonly string Manifest = Path.Combine(Root, "deploy", "kubernetes", "actorcluster.yaml");

    private static async Task<(int Code, string Output, string Errors)> ValidateAsync(string manifest, string? objects = null)
    {
        var check = Path.Combine(Root, "deploy", "kubernetes", "check");
        Assert.True(Directory.Exists(Path.Combine(check, "node_modules", "kubernetes-models")), "kubernetes-models is not installed: test.sh runs `npm ci --prefix deploy/kubernetes/check`");
        return await Processes.Commands.RunAsync(check, "node", objects is null ? ["validate.mjs", manifest] : ["validate.mjs", manifest, objects]);
    }

    private static async Task<List<JsonElement>> ObjectsAsync()
    {
        var json = Path.GetTempFileName();
        try
        {
            var (code, output, errors) = await ValidateAsync(Manifest, json);
            Assert.True(code == 0, $"{output}\n{errors}");
            return [.. JsonDocument.Parse(await File.ReadAllTextAsync(json)).RootElement.EnumerateArray()];
        }
        finally
        {
            File.Delete(json);
        }
    }

    private static JsonElement Kind(List<JsonElement> objects, string kind, string? name = null) =>
        objects.Single(o => o.GetProperty("kind").GetString() == kind && (name is null || o.GetProperty("metadata").GetProperty("name").GetString() == name));

    [Fact]
    public async Task The_manifest_is_valid_against_the_kubernetes_schemas_and_an_invalid_one_is_caught()
    {
        var objects = await ObjectsAsync();
        Assert.Equal(
            ["PodDisruptionBudget", "Role", "RoleBinding", "Service", "Service", "Service", "ServiceAccount", "StatefulSet"],
            objects.Select(o => o.GetProperty("kind").GetString()).Order(StringComparer.Ordinal));

        var broken = Path.GetTempFileName();
        try
        {
            await File.WriteAllTextAsync(broken, (await File.ReadAllTextAsync(Manifest)).Replace("replicas: 3", "replicas: three", StringComparison.Ordinal));
            var (code, _, errors) = await ValidateAsync(broken);
            Assert.Equal(1, code);
            Assert.Contains("replicas must be integer", errors, StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(broken);
        }
    }

    [Fact]
    public async Task The_manifests_ports_probes_services_and_mounts_are_the_ones_the_silo_uses()
    {
        var objects = await ObjectsAsync();
        var set = Kind(objects, "StatefulSet");
        var pod = set.GetProperty("spec").GetProperty("template").GetProperty("spec");
        var container = pod.GetProperty("containers").EnumerateArray().Single();
        var ports = container.GetProperty("ports").EnumerateArray().ToDictionary(p => p.GetProperty("name").GetString()!, p => p.GetProperty("containerPort").GetInt32());

        // The container sets no ports: the silo listens on its shipped defaults.
        var silo = JsonDocument.Parse(await File.ReadAllTextAsync(Path.Combine(Root, "appsettings.json"))).RootElement.GetProperty("ActorCluster").GetProperty("Silo");
        Assert.Equal(silo.GetProperty("SiloPort").GetInt32(), ports["silo"]);
        Assert.Equal(silo.GetProperty("GatewayPort").GetInt32(), ports["gateway"]);
        Assert.Equal(silo.GetProperty("HttpPort").GetInt32(), ports["http"]);

        // Probes on the open health endpoints, by the http port's name.
        Assert.Equal("/readyz", container.GetProperty("readinessProbe").GetProperty("httpGet").GetProperty("path").GetString());
        Assert.Equal("/healthz", container.GetProperty("livenessProbe").GetProperty("httpGet").GetProperty("path").GetString());
        Assert.Equal("http", container.GetProperty("readinessProbe").GetProperty("httpGet").GetProperty("port").GetString());
        Assert.Equal("http", container.GetProperty("livenessProbe").GetProperty("httpGet").GetProperty("port").GetString());

        // Every service targets a named container port; the headless one governs the set.
        foreach (var service in objects.Where(o => o.GetProperty("kind").GetString() == "Service"))
        {
            Assert.All(service.GetProperty("spec").GetProperty("ports").EnumerateArray(), p => Assert.Contains(p.GetProperty("targetPort").GetString()!, ports.Keys));
        }

        Assert.Equal("None", Kind(objects, "Service", set.GetProperty("spec").GetProperty("serviceName").GetString()).GetProperty("spec").GetProperty("clusterIP").GetString());
        var scrape = Kind(objects, "Service", "actorcluster-http").GetProperty("metadata").GetProperty("annotations");
        Assert.Equal("/metrics", scrape.GetProperty("prometheus.io/path").GetString());
        Assert.Equal(ports["http"].ToString(System.Globalization.CultureInfo.InvariantCulture), scrape.GetProperty("prometheus.io/port").GetString());

        // The data directory and the certificate are where the settings say.
        var env = Environment(container);
        var mounts = container.GetProperty("volumeMounts").EnumerateArray().ToDictionary(m => m.GetProperty("name").GetString()!, m => m.GetProperty("mountPath").GetString()!);
        var claim = set.GetProperty("spec").GetProperty("volumeClaimTemplates").EnumerateArray().Single().GetProperty("metadata").GetProperty("name").GetString()!;
        Assert.Equal(env["ACTORCLUSTER_STORAGE__DATADIRECTORY"], mounts[claim]);
        Assert.StartsWith(mounts["tls"] + "/", env["ACTORCLUSTER_TLS__CERTIFICATEPATH"], StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_silo_accepts_every_setting_the_manifest_gives_it()
    {
        var container = Kind(await ObjectsAsync(), "StatefulSet").GetProperty("spec").GetProperty("template").GetProperty("spec").GetProperty("containers").EnumerateArray().Single();
        var directory = Directory.CreateTempSubdirectory("actorcluster-manifest-").FullName;
        try
        {
            // Secrets and pod fields get stand-ins; the certificate is a generated one at a local path.
            using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
            using var certificate = new CertificateRequest("CN=actorcluster", key, HashAlgorithmName.SHA256).CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddDays(1));
            var pfx = Path.Combine(directory, "silo.pfx");
            await File.WriteAllBytesAsync(pfx, certificate.Export(X509ContentType.Pkcs12, "secret"));
            var environment = Environment(container).ToDictionary(e => e.Key, e => e.Value ?? "secret");
            environment["ACTORCLUSTER_TLS__CERTIFICATEPATH"] = pfx;
            environment["ACTORCLUSTER_TLS__CLIENTTHUMBPRINTS"] = new string('a', 64);
            environment["ACTORCLUSTER_STORAGE__CONNECTIONSTRING"] = "Host=db;Database=actorcluster";
            environment["ACTORCLUSTER_CHECK_ARGS"] = "1";
            var (code, output, errors) = await ChildProcess.RunAsync(Programs.SiloDll, [], TimeSpan.FromSeconds(60), environment);
            Assert.True(code == 0, $"exit {code}: {output} {errors}");

            // And a misspelt one would have stopped it.
            environment["ACTORCLUSTER_SILO__HTTPTOKN"] = "secret";
            var (misspelt, _, refusal) = await ChildProcess.RunAsync(Programs.SiloDll, [], TimeSpan.FromSeconds(60), environment);
            Assert.Equal(2, misspelt);
            Assert.Contains("HttpTokn", refusal, StringComparison.OrdinalIgnoreCase);
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    /// <summary>The container's environment: literal values, and null for values from secrets and fields.</summary>
    private static Dictionary<string, string?> Environment(JsonElement container) =>
        container.GetProperty("env").EnumerateArray().ToDictionary(
            e => e.GetProperty("name").GetString()!,
            e => e.TryGetProperty("value", out var value) ? value.GetString() : null);
}

using System.Net;
using ActorCluster.Grains.Interfaces.Configuration;
using ActorCluster.Grains.Storage;

namespace ActorCluster.Silo;

/// <summary>How this process runs silos (configuration section <c>ActorCluster:Silo</c>).</summary>
public sealed class SiloSettings
{
    public const string Section = "ActorCluster:Silo";

    /// <summary><c>Local</c>: a development cluster of <see cref="LocalSilos"/> silos in this process. <c>Single</c>: one silo.</summary>
    public SiloMode Mode { get; set; } = SiloMode.Local;

    /// <summary>Silos of the local development cluster.</summary>
    public int LocalSilos { get; set; } = 3;

    /// <summary>
    /// This silo's name, shown in its log lines, the Raft view and the command line (default:
    /// derived from the machine and port); a local cluster's silos are named <c>name-0</c>, <c>name-1</c>, ...
    /// </summary>
    public string? Name { get; set; }

    /// <summary>How silos find each other: <c>Localhost</c> (development) or <c>PostgreSql</c> (membership table).</summary>
    public ClusteringKind Clustering { get; set; } = ClusteringKind.Localhost;

    /// <summary>The address other silos and clients use to reach this one (default: loopback).</summary>
    public string? AdvertisedAddress { get; set; }

    public int SiloPort { get; set; } = 11111;

    public int GatewayPort { get; set; } = 30000;

    /// <summary>Dashboard, health and metrics (0 disables the web endpoint).</summary>
    public int HttpPort { get; set; } = 8080;

    /// <summary>With localhost clustering, the silo port of the primary silo (which holds membership).</summary>
    public int PrimarySiloPort { get; set; } = 11111;

    /// <summary>Serve the Orleans Dashboard at /dashboard (it profiles every grain call, which costs CPU).</summary>
    public bool Dashboard { get; set; } = true;

    /// <summary>
    /// Accept fault-injection commands over HTTP (<c>PUT /faults/partition?block=host:port,...</c>,
    /// <c>DELETE /faults/partition</c>; <c>PUT /faults/disk?mode=fail|stall</c>, <c>DELETE /faults/disk</c>;
    /// <c>GET /faults/clock</c>, the process's wall and monotonic clocks as it reads them):
    /// for fault tests, never for production.
    /// </summary>
    public bool FaultInjection { get; set; }

    /// <summary>Use Orleans' Kubernetes hosting (pod name, IP and namespace from the environment).</summary>
    public bool Kubernetes { get; set; }

    /// <summary>
    /// The token the web endpoints ask for (<c>Authorization: Bearer</c>, or the password of HTTP
    /// basic authentication with any user name): the dashboard, the Raft view, <c>/store</c> and the
    /// fault endpoints. <c>/healthz</c> and <c>/readyz</c> stay open for probes, and <c>/metrics</c>
    /// unless <see cref="ProtectMetrics"/>. A silo outside the development cluster (<c>Mode
    /// Single</c>) with a web endpoint needs one, or <see cref="AllowAnonymousHttp"/>.
    /// </summary>
    public string? HttpToken { get; set; }

    /// <summary>Ask for the token on <c>/metrics</c> too (Prometheus then needs it as a bearer token).</summary>
    public bool ProtectMetrics { get; set; }

    /// <summary>Serve the web endpoints of a <c>Mode Single</c> silo without a token (behind a gateway that authenticates, say).</summary>
    public bool AllowAnonymousHttp { get; set; }

    /// <summary>Command-line switches and the settings they set.</summary>
    public static readonly IReadOnlyDictionary<string, string> Switches = new Dictionary<string, string>
    {
        ["--mode"] = $"{Section}:Mode",
        ["--silos"] = $"{Section}:LocalSilos",
        ["--name"] = $"{Section}:Name",
        ["--clustering"] = $"{Section}:Clustering",
        ["--address"] = $"{Section}:AdvertisedAddress",
        ["--silo-port"] = $"{Section}:SiloPort",
        ["--gateway-port"] = $"{Section}:GatewayPort",
        ["--http-port"] = $"{Section}:HttpPort",
        ["--primary-port"] = $"{Section}:PrimarySiloPort",
        ["--storage"] = $"{StorageOptions.Section}:Provider",
        ["--data-dir"] = $"{StorageOptions.Section}:DataDirectory",
        ["--connection-string"] = $"{StorageOptions.Section}:ConnectionString",
        ["--shards"] = "ActorCluster:Ring:Shards",
        ["--replication-factor"] = "ActorCluster:Ring:ReplicationFactor",
        ["--cluster-id"] = "ActorCluster:ClusterId",
        ["--dashboard"] = $"{Section}:Dashboard",
        ["--fault-injection"] = $"{Section}:FaultInjection",
        ["--service-id"] = "ActorCluster:ServiceId",
        ["--http-token"] = $"{Section}:HttpToken",
        ["--tls-certificate"] = "ActorCluster:Tls:CertificatePath",
        ["--tls-password"] = "ActorCluster:Tls:CertificatePassword",
        ["--tls-trust"] = "ActorCluster:Tls:TrustedThumbprints",
        ["--tls-clients"] = "ActorCluster:Tls:ClientThumbprints",
    };

    /// <summary>What <c>--help</c> prints.</summary>
    public static string Usage => $$"""
        ActorCluster silo: runs the local development cluster (default) or one silo of a real cluster.

          dotnet run --project Silo                          3 silos in this process, SQLite under ./data, dashboard on :8080
          dotnet run --project Silo -- --mode Single ...     one silo per process (see the README)

        options (each sets the configuration key shown; any key can also be set as --Section:Key value,
        in appsettings.json, or as an ACTORCLUSTER_SECTION__KEY environment variable):
        {{string.Join(Environment.NewLine, Switches.Select(s => $"  {s.Key,-22}{s.Value}"))}}
          --help                show this and exit

        exit codes: 0 stopped cleanly; 2 invalid setting or option; 3 storage cannot be opened;
                    4 a port is in use; 5 the ring differs from the cluster's or cannot be read
        """;

    /// <summary>
    /// What is wrong with the command line: an option that is neither a known switch nor a
    /// configuration key (<c>--Section:Key</c>), an option without its value, or a stray argument;
    /// null when nothing is.
    /// </summary>
    public static string? CommandLineProblem(IReadOnlyList<string> args)
    {
        for (var i = 0; i < args.Count; i++)
        {
            var arg = args[i];
            if (!arg.StartsWith('-'))
            {
                return $"unexpected argument '{arg}'";
            }

            var name = arg.Split('=', 2)[0];
            if (!Switches.ContainsKey(name) && !(name.StartsWith("--", StringComparison.Ordinal) && name.Contains(':', StringComparison.Ordinal)))
            {
                return $"unknown option {name}";
            }

            if (!arg.Contains('=', StringComparison.Ordinal))
            {
                if (i + 1 >= args.Count || args[i + 1].StartsWith("--", StringComparison.Ordinal))
                {
                    return $"option {name} needs a value";
                }

                i++;
            }
        }

        return null;
    }

    /// <summary>
    /// Configuration from the shipped appsettings.json, an appsettings.json in the working
    /// directory, environment variables (<c>ACTORCLUSTER_STORAGE__PROVIDER=PostgreSql</c>, plus the
    /// usual ones such as <c>OTEL_EXPORTER_OTLP_ENDPOINT</c>) and command-line switches, later
    /// sources winning.
    /// </summary>
    public static IConfigurationRoot LoadConfiguration(string[] args) => new ConfigurationBuilder()
        .AddJsonFile(Path.Combine(AppContext.BaseDirectory, "appsettings.json"), optional: true)
        .AddJsonFile(Path.Combine(Directory.GetCurrentDirectory(), "appsettings.json"), optional: true)
        .AddEnvironmentVariables()
        .AddActorClusterEnvironment()
        .AddCommandLine(args, Switches.ToDictionary(s => s.Key, s => s.Value))
        .Build();

    /// <summary>Throws <see cref="ArgumentException"/> naming the first invalid setting and what it allows.</summary>
    public void Validate(StorageOptions storage)
    {
        ArgumentNullException.ThrowIfNull(storage);
        if (LocalSilos is < 1 or > 16)
        {
            throw new ArgumentException($"{Section}:LocalSilos must be between 1 and 16 (was {LocalSilos}).");
        }

        CheckPort(SiloPort, nameof(SiloPort));
        CheckPort(GatewayPort, nameof(GatewayPort));
        CheckPort(PrimarySiloPort, nameof(PrimarySiloPort));
        if (HttpPort != 0)
        {
            CheckPort(HttpPort, nameof(HttpPort));
        }

        if (AdvertisedAddress is { Length: > 0 } address && !IPAddress.TryParse(address, out _))
        {
            throw new ArgumentException($"{Section}:AdvertisedAddress must be an IP address (was '{address}').");
        }

        if (Clustering == ClusteringKind.PostgreSql && storage.Provider != StorageProvider.PostgreSql)
        {
            throw new ArgumentException($"{Section}:Clustering PostgreSql needs {StorageOptions.Section}:Provider PostgreSql (its connection string holds the membership table).");
        }

        if (Mode == SiloMode.Single && HttpPort != 0 && string.IsNullOrEmpty(HttpToken) && !AllowAnonymousHttp)
        {
            throw new ArgumentException(
                $"{Section}:HttpToken is needed outside the development cluster: the dashboard, the Raft view and /store would be open to anyone who reaches port {HttpPort} " +
                $"(set a token with --http-token or ACTORCLUSTER_SILO__HTTPTOKEN, serve no web endpoint with --http-port 0, or set {Section}:AllowAnonymousHttp true).");
        }

        if (Mode == SiloMode.Local && Clustering != ClusteringKind.Localhost)
        {
            throw new ArgumentException($"{Section}:Mode Local runs its silos with Localhost clustering; use Mode Single for {Clustering}.");
        }
    }

    private static void CheckPort(int port, string name)
    {
        if (port is < 1 or > 65535)
        {
            throw new ArgumentException($"{Section}:{name} must be between 1 and 65535 (was {port}).");
        }
    }
}

/// <summary>How many silos this process runs.</summary>
public enum SiloMode
{
    Local,
    Single,
}

/// <summary>The membership provider.</summary>
public enum ClusteringKind
{
    Localhost,
    PostgreSql,
}

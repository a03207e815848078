namespace ActorCluster.Client;

/// <summary>How the client finds the cluster and how patient it is (configuration section <c>ActorCluster:Client</c>).</summary>
public sealed class ActorClusterClientOptions
{
    /// <summary>The configuration section these options are read from.</summary>
    public const string Section = "ActorCluster:Client";

    /// <summary>Gateways to connect to ("host:port"); the local development cluster's by default.</summary>
    public IList<string> Gateways { get; } = [];

    /// <summary>The Orleans cluster id.</summary>
    public string ClusterId { get; set; } = "actorcluster";

    /// <summary>The Orleans service id.</summary>
    public string ServiceId { get; set; } = "actorcluster";

    /// <summary>
    /// When set, how the client finds gateways instead of <see cref="Gateways"/>: it is given the
    /// Orleans client builder to configure clustering on, as the silos do (for example Orleans'
    /// ADO.NET membership table, from Microsoft.Orleans.Clustering.AdoNet, which the command line uses).
    /// </summary>
    public Action<IClientBuilder>? ConfigureClustering { get; set; }

    /// <summary>
    /// When set, given the Orleans client builder after everything else is configured: for what
    /// the library leaves to the application, such as TLS to the gateways
    /// (Microsoft.Orleans.Connections.Security's <c>UseTls</c>, which the command line uses with
    /// <c>--tls-certificate</c>).
    /// </summary>
    public Action<IClientBuilder>? ConfigureClient { get; set; }

    /// <summary>How long one operation may take, retries included.</summary>
    public int TimeoutMilliseconds { get; set; } = 10_000;

    /// <summary>How many times an operation is retried after a failed attempt.</summary>
    public int Retries { get; set; } = 3;

    /// <summary><see cref="TimeoutMilliseconds"/> as a time span.</summary>
    public TimeSpan Timeout => TimeSpan.FromMilliseconds(TimeoutMilliseconds);

    /// <summary>
    /// Batching: how many grain calls this client keeps in flight to one shard before concurrent
    /// operations for that shard wait and then travel together in one call (0: every operation is
    /// its own call). A lone operation is never delayed.
    /// </summary>
    public int BatchCallsPerShard { get; set; } = 2;

    /// <summary>The most operations one batch carries.</summary>
    public int MaxBatchOperations { get; set; } = 256;

    /// <summary>The most key and value bytes one batch carries (a larger single operation still goes, alone).</summary>
    public int MaxBatchBytes { get; set; } = 1024 * 1024;

    /// <summary>The local development cluster's gateways.</summary>
    public static IReadOnlyList<string> LocalGateways { get; } = ["localhost:30000", "localhost:30001", "localhost:30002"];

    /// <summary>Throws <see cref="ArgumentException"/> naming the first invalid setting.</summary>
    public void Validate()
    {
        if (TimeoutMilliseconds is < 10 or > 3_600_000)
        {
            throw new ArgumentException($"{Section}:TimeoutMilliseconds must be between 10 and 3600000 (was {TimeoutMilliseconds}).");
        }

        if (Retries is < 0 or > 100)
        {
            throw new ArgumentException($"{Section}:Retries must be between 0 and 100 (was {Retries}).");
        }

        if (BatchCallsPerShard is < 0 or > 1024)
        {
            throw new ArgumentException($"{Section}:BatchCallsPerShard must be between 0 (no batching) and 1024 (was {BatchCallsPerShard}).");
        }

        if (MaxBatchOperations is < 1 or > 4096)
        {
            throw new ArgumentException($"{Section}:MaxBatchOperations must be between 1 and 4096 (was {MaxBatchOperations}).");
        }

        if (MaxBatchBytes is < 1024 or > 64 * 1024 * 1024)
        {
            throw new ArgumentException($"{Section}:MaxBatchBytes must be between 1024 and 67108864 (was {MaxBatchBytes}).");
        }

        foreach (var gateway in Gateways)
        {
            var colon = gateway.LastIndexOf(':');
            if (colon <= 0 || !int.TryParse(gateway.AsSpan(colon + 1), out var port) || port is < 1 or > 65535)
            {
                throw new ArgumentException($"{Section}:Gateways: '{gateway}' is not host:port.");
            }
        }
    }
}

using ActorCluster.Client;
using ActorCluster.Grains.Storage;
using ActorCluster.Tests.Storage;
using Microsoft.Extensions.Configuration;
using Orleans.TestingHost;

namespace ActorCluster.Tests.Cluster;

/// <summary>
/// An in-process Orleans cluster running ActorCluster: several silos sharing one replica store
/// (shared storage topology), fast Raft timings, and a client.
/// </summary>
internal sealed class TestCluster : IAsyncDisposable
{
    private TestCluster(InProcessTestCluster cluster, AdoReplicaStore store, FaultyReplicaStore faults, StorageOptions storage, ActorClusterClient client)
    {
        Cluster = cluster;
        Store = store;
        Faults = faults;
        Storage = storage;
        Client = client;
    }

    /// <summary>The store every silo uses: <see cref="Store"/>, with faults a test can inject.</summary>
    public FaultyReplicaStore Faults { get; }

    public InProcessTestCluster Cluster { get; }

    public AdoReplicaStore Store { get; }

    public StorageOptions Storage { get; }

    public ActorClusterClient Client { get; private set; }

    public static IConfiguration Configuration(StorageOptions storage, int shards, IReadOnlyDictionary<string, string?>? overrides = null)
    {
        var settings = Settings(storage, shards);
        foreach (var (key, value) in overrides ?? new Dictionary<string, string?>())
        {
            settings[key] = value;
        }

        return new ConfigurationBuilder().AddInMemoryCollection(settings).Build();
    }

    private static Dictionary<string, string?> Settings(StorageOptions storage, int shards) => new()
    {
        ["ActorCluster:Ring:Shards"] = shards.ToString(System.Globalization.CultureInfo.InvariantCulture),
        ["ActorCluster:Ring:ReplicationFactor"] = "3",
        ["ActorCluster:Raft:TickMilliseconds"] = "20",
        ["ActorCluster:Raft:ElectionTicks"] = "10",
        ["ActorCluster:Raft:HeartbeatTicks"] = "2",
        ["ActorCluster:Raft:SnapshotEntries"] = "200",
        ["ActorCluster:Raft:RetainEntries"] = "20",
        ["ActorCluster:Shard:OperationTimeoutMilliseconds"] = "20000",
        ["ActorCluster:Shard:AttemptTimeoutMilliseconds"] = "1500",
        ["ActorCluster:Storage:Provider"] = storage.Provider.ToString(),
        ["ActorCluster:Storage:DataDirectory"] = storage.DataDirectory,
        ["ActorCluster:Storage:ConnectionString"] = storage.ConnectionString,
    };

    /// <summary>Orleans's failure detector with 1 s probes and 2 misses, as the chaos runs use.</summary>
    public static IReadOnlyDictionary<string, string?> FastFailureDetection { get; } = new Dictionary<string, string?>
    {
        ["Orleans:ClusterMembership:ProbeTimeout"] = "00:00:01",
        ["Orleans:ClusterMembership:NumMissedProbesLimit"] = "2",
    };

    /// <summary>Starts a cluster; <paramref name="settings"/> override the test defaults (same keys as appsettings.json).</summary>
    public static async Task<TestCluster> StartAsync(int silos = 3, int shards = 4, StorageProvider provider = StorageProvider.Sqlite, StorageOptions? storage = null, IReadOnlyDictionary<string, string?>? settings = null)
    {
        storage ??= await StorageFixture.FreshAsync(provider);
        var store = await AdoReplicaStore.OpenAsync(storage);
        var configuration = Configuration(storage, shards, settings);
        var builder = new InProcessTestClusterBuilder((short)silos);

        // One service id for every cluster on the same storage, as in production: Orleans keys
        // grain state (the ring's recorded shape) by service id.
        builder.Options.ServiceId = "actorcluster";
        var faults = new FaultyReplicaStore(store);
        builder.ConfigureSilo((_, silo) =>
        {
            silo.AddActorCluster(configuration, faults);
            silo.Configure<Orleans.Configuration.ClusterMembershipOptions>(configuration.GetSection("Orleans:ClusterMembership"));
            silo.Configure<Orleans.Configuration.SiloMessagingOptions>(configuration.GetSection("Orleans:Messaging"));
        });
        var cluster = builder.Build();
        await cluster.DeployAsync();
        var client = await ActorClusterClient.FromClusterClientAsync(cluster.Client, new ActorClusterClientOptions { TimeoutMilliseconds = 30_000, Retries = 10 });
        return new TestCluster(cluster, store, faults, storage, client);
    }

    /// <summary>The silo whose address <see cref="Grains.Interfaces.ReplicaStatus.Silo"/> names.</summary>
    public InProcessSiloHandle SiloOf(string siloAddress) => Cluster.Silos.Single(s => s.SiloAddress.ToString() == siloAddress);

    /// <summary>The endpoint ("host:port") by which fault injection names a silo.</summary>
    public static string EndpointOf(InProcessSiloHandle silo) => $"{silo.SiloAddress.Endpoint.Address}:{silo.SiloAddress.Endpoint.Port}";

    /// <summary>The replica ids that have a record in the store.</summary>
    public async Task<List<string>> StoredReplicaIdsAsync()
    {
        var ids = new List<string>();
        await using var connection = Storage.Provider == StorageProvider.Sqlite
            ? (System.Data.Common.DbConnection)new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={Storage.SqlitePath};Pooling=False")
            : new Npgsql.NpgsqlConnection(Storage.ConnectionString);
        await connection.OpenAsync();
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT replica_id FROM ac_replica ORDER BY replica_id";
        await using var reader = await command.ExecuteReaderAsync();
        while (await reader.ReadAsync())
        {
            ids.Add(reader.GetString(0));
        }

        return ids;
    }

    public async ValueTask DisposeAsync()
    {
        await Cluster.DisposeAsync();
        await Store.DisposeAsync();
    }
}

using ActorCluster.Client;
using ActorCluster.Grains.Storage;
using ActorCluster.Tests.Storage;
using Microsoft.Extensions.Configuration;
using Orleans.TestingHost;

namespace ActorCluster.Tests.Cluster;

/// <summary>
/// An in-process Orleans cluster running ActorCluster as deployed: every silo keeps its replicas in
/// a store of its own (SQLite in a directory named after the silo), and the silos share only the
/// cluster metadata (<see cref="Storage"/>: SQLite or PostgreSQL); fast Raft timings, and a client.
/// </summary>
internal sealed class TestCluster : IAsyncDisposable
{
    private readonly Dictionary<string, (AdoReplicaStore Store, StoreIdentity Identity, StorageOptions Options)> _stores;

    private TestCluster(InProcessTestCluster cluster, Dictionary<string, (AdoReplicaStore, StoreIdentity, StorageOptions)> stores, System.Collections.Concurrent.ConcurrentDictionary<string, StoreIncarnation> incarnations, FaultPlan faults, StorageOptions storage, ActorClusterClient client)
    {
        Incarnations = incarnations;
        Cluster = cluster;
        _stores = stores;
        Faults = faults;
        Storage = storage;
        Client = client;
    }

    /// <summary>Faults a test can inject into every silo's store.</summary>
    public FaultPlan Faults { get; }

    public InProcessTestCluster Cluster { get; }

    /// <summary>The shared cluster metadata; silo stores live under its data directory.</summary>
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
        ["ActorCluster:Ring:DeadStoreGraceSeconds"] = "5",
        ["ActorCluster:Ring:RebalanceSettleSeconds"] = "2",
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

    /// <summary>
    /// Starts a cluster; <paramref name="settings"/> override the test defaults (same keys as
    /// appsettings.json). Silos keep their stores under <paramref name="storage"/>'s data directory,
    /// by silo name, so a cluster started again on the same storage finds them;
    /// <paramref name="configureClient"/> adds to the test client's configuration.
    /// </summary>
    public static async Task<TestCluster> StartAsync(int silos = 3, int shards = 4, StorageProvider provider = StorageProvider.Sqlite, StorageOptions? storage = null, IReadOnlyDictionary<string, string?>? settings = null, Action<IClientBuilder>? configureClient = null)
    {
        storage ??= await StorageFixture.FreshAsync(provider);
        if (storage.Provider == StorageProvider.PostgreSql && storage.DataDirectory == "data")
        {
            // The silos' own stores go with the database: a cluster started again on it finds them.
            var database = new Npgsql.NpgsqlConnectionStringBuilder(storage.ConnectionString).Database;
            storage = new StorageOptions { Provider = storage.Provider, ConnectionString = storage.ConnectionString, DataDirectory = Path.Combine(Path.GetTempPath(), $"actorcluster-test-{database}") };
        }

        await AdoReplicaStore.PrepareMetadataAsync(storage);
        var configuration = Configuration(storage, shards, settings);
        var builder = new InProcessTestClusterBuilder((short)silos);

        // One service id for every cluster on the same storage, as in production: Orleans keys
        // grain state (the ring's recorded shape) by service id.
        builder.Options.ServiceId = "actorcluster";
        var faults = new FaultPlan();
        var stores = new Dictionary<string, (AdoReplicaStore, StoreIdentity, StorageOptions)>();
        var incarnations = new System.Collections.Concurrent.ConcurrentDictionary<string, StoreIncarnation>();
        var metadata = storage;
        builder.ConfigureSilo((options, silo) =>
        {
            var (store, identity, _) = OpenStore(stores, incarnations, metadata, options.SiloName);
            silo.AddActorCluster(configuration, new FaultyReplicaStore(store, faults), identity, metadata);
            // Orleans' test cluster asks its silos' test hooks, from its client, which silos are up.
            silo.Configure<Grains.Hosting.ClientAccessOptions>(o => o.OpenInterfaces.Add("Orleans.Runtime.TestHooks.ITestHooks"));
            silo.Configure<Orleans.Configuration.ClusterMembershipOptions>(configuration.GetSection("Orleans:ClusterMembership"));
            silo.Configure<Orleans.Configuration.SiloMessagingOptions>(configuration.GetSection("Orleans:Messaging"));
            if (Environment.GetEnvironmentVariable("ACTORCLUSTER_TEST_DEBUG") == "1")
            {
                var siloName = options.SiloName;
                Microsoft.Extensions.DependencyInjection.LoggingServiceCollectionExtensions.AddLogging(silo.Services, logging =>
                {
                    Microsoft.Extensions.Logging.FilterLoggingBuilderExtensions.AddFilter(logging, "ActorCluster", Microsoft.Extensions.Logging.LogLevel.Debug);
                    logging.Services.Add(Microsoft.Extensions.DependencyInjection.ServiceDescriptor.Singleton<Microsoft.Extensions.Logging.ILoggerProvider>(new DebugFileLoggerProvider(siloName)));
                });
            }
        });
        builder.ConfigureClient(client =>
        {
            client.AddActivityPropagation();
            configureClient?.Invoke(client);
        });
        var cluster = builder.Build();
        try
        {
            await cluster.DeployAsync();
            var client = await ActorClusterClient.FromClusterClientAsync(cluster.Client, new ActorClusterClientOptions { TimeoutMilliseconds = 30_000, Retries = 10 });
            return new TestCluster(cluster, stores, incarnations, faults, storage, client);
        }
        catch
        {
            // A cluster that did not start lets go of its stores (each holds its directory's lock).
            await cluster.DisposeAsync();
            foreach (var (store, _, _) in stores.Values)
            {
                await store.DisposeAsync();
            }

            throw;
        }
    }

    private static (AdoReplicaStore, StoreIdentity, StorageOptions) OpenStore(Dictionary<string, (AdoReplicaStore, StoreIdentity, StorageOptions)> stores, System.Collections.Concurrent.ConcurrentDictionary<string, StoreIncarnation> incarnations, StorageOptions metadata, string siloName)
    {
        lock (stores)
        {
            if (stores.TryGetValue(siloName, out var known))
            {
                return known;
            }

            var options = new StorageOptions { Provider = StorageProvider.Sqlite, DataDirectory = Path.Combine(metadata.DataDirectory, siloName) };
            // As a silo process opens its store: checked against the cluster's record of it.
            var incarnation = StoreIncarnation.OpenAsync(options, metadata, "test", faults: null, Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance).GetAwaiter().GetResult();
            incarnations[siloName] = incarnation;
            return stores[siloName] = (incarnation.Store, incarnation.Identity, options);
        }
    }

    private readonly List<InProcessSiloHandle> _restarted = [];

    /// <summary>Each silo's store as last opened, with its incarnation (by silo name).</summary>
    public System.Collections.Concurrent.ConcurrentDictionary<string, StoreIncarnation> Incarnations { get; }

    /// <summary>Starts a killed silo again under its old name (its store, unless wiped, is the one it had).</summary>
    public async Task<InProcessSiloHandle> StartAgainAsync(InProcessSiloHandle killed)
    {
        var handle = await Cluster.StartSiloAsync(killed.InstanceNumber, Cluster.Options);
        _restarted.Add(handle);
        return handle;
    }

    /// <summary>
    /// Starts a silo that never ran here, with a store of its own. Orleans' own
    /// StartAdditionalSiloAsync numbers a new silo from the silos it tracks, which leaves out those
    /// started again here: it once gave a newcomer the name, and so the open store, of a silo that
    /// ran, and two silos pulsed for one store (in production the store's lock refuses that).
    /// </summary>
    public async Task<InProcessSiloHandle> StartNewSiloAsync()
    {
        int next;
        lock (_stores)
        {
            next = Cluster.Silos.Concat(_restarted).Max(s => (int)s.InstanceNumber) + 1;
        }

        var handle = await Cluster.StartSiloAsync(next, Cluster.Options);
        _restarted.Add(handle);
        return handle;
    }

    /// <summary>Deletes the data directory of a stopped silo: started again, it is a new store.</summary>
    public async Task WipeStoreAsync(string siloName)
    {
        var options = await ReleaseStoreAsync(siloName);
        Directory.Delete(options.DataDirectory, recursive: true);
    }

    /// <summary>Closes a stopped silo's store and forgets it, so that its files may be changed; returns its options.</summary>
    private async Task<StorageOptions> ReleaseStoreAsync(string siloName)
    {
        (AdoReplicaStore Store, StoreIdentity Identity, StorageOptions Options) entry;
        lock (_stores)
        {
            entry = _stores[siloName];
            _stores.Remove(siloName);
        }

        await entry.Store.DisposeAsync();
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        return entry.Options;
    }

    /// <summary>A consistent copy of a running silo's store (SQLite's VACUUM INTO), as a backup tool takes one.</summary>
    public async Task<string> BackUpStoreAsync(string siloName)
    {
        var backup = Path.Combine(Path.GetTempPath(), $"actorcluster-backup-{Guid.NewGuid():N}.db");
        await using var connection = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={_stores[siloName].Options.SqlitePath};Pooling=False");
        await connection.OpenAsync();
        await using var command = connection.CreateCommand();
        command.CommandText = "VACUUM INTO @backup";
        command.Parameters.AddWithValue("@backup", backup);
        await command.ExecuteNonQueryAsync();
        return backup;
    }

    /// <summary>Puts a backup in place of a stopped silo's store: started again, it opens the backup.</summary>
    public async Task RestoreStoreAsync(string siloName, string backup)
    {
        var options = await ReleaseStoreAsync(siloName);
        foreach (var file in Directory.EnumerateFiles(options.DataDirectory, "replicas.db*"))
        {
            File.Delete(file);
        }

        File.Copy(backup, options.SqlitePath);
    }

    /// <summary>Deletes one replica's stored state (not its registration) from a stopped silo's store.</summary>
    public async Task DeleteReplicaStateAsync(string siloName, string replicaKey)
    {
        await using var connection = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={_stores[siloName].Options.SqlitePath};Pooling=False");
        await connection.OpenAsync();
        foreach (var sql in new[]
        {
            "DELETE FROM ac_log WHERE replica_id = @id", "DELETE FROM ac_snapshot_meta WHERE replica_id = @id",
            "DELETE FROM ac_snapshot_chunk WHERE replica_id = @id", "UPDATE ac_replica SET term = 0, vote = 0, commit_index = 0 WHERE replica_id = @id",
        })
        {
            await using var command = connection.CreateCommand();
            command.CommandText = sql;
            command.Parameters.AddWithValue("@id", replicaKey);
            await command.ExecuteNonQueryAsync();
        }
    }

    /// <summary>The store of the silo named <paramref name="siloName"/>.</summary>
    public AdoReplicaStore StoreOf(string siloName) => _stores[siloName].Store;

    /// <summary>The store whose id is <paramref name="storeHex"/>.</summary>
    public AdoReplicaStore StoreWithId(string storeHex) => _stores.Values.Single(s => s.Identity.StoreHex == storeHex).Store;

    /// <summary>The grain key of a replica, from its status.</summary>
    public static string KeyOf(Grains.Interfaces.ReplicaStatus replica) =>
        Grains.Replicas.ReplicaId.Format(replica.Shard, replica.Replica, ulong.Parse(replica.Store, System.Globalization.NumberStyles.HexNumber, System.Globalization.CultureInfo.InvariantCulture));

    /// <summary>The silo whose address <see cref="Grains.Interfaces.ReplicaStatus.Silo"/> names.</summary>
    public InProcessSiloHandle SiloOf(string siloAddress) => Cluster.Silos.Concat(_restarted).Single(s => s.SiloAddress.ToString() == siloAddress);

    /// <summary>The endpoint ("host:port") by which fault injection names a silo.</summary>
    public static string EndpointOf(InProcessSiloHandle silo) => $"{silo.SiloAddress.Endpoint.Address}:{silo.SiloAddress.Endpoint.Port}";

    /// <summary>The live replica ids every silo's store holds.</summary>
    public async Task<List<string>> StoredReplicaIdsAsync()
    {
        var ids = new List<string>();
        foreach (var (store, _, _) in _stores.Values.ToList())
        {
            ids.AddRange(await store.ListReplicasAsync());
        }

        return ids;
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var silo in _restarted)
        {
            await silo.StopSiloAsync(stopGracefully: false);
        }

        await Cluster.DisposeAsync();
        foreach (var (store, _, _) in _stores.Values)
        {
            await store.DisposeAsync();
        }
    }
}

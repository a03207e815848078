using ActorCluster.Grains.Storage;
using ActorCluster.Silo;

// dotnet run --project Silo                      the local development cluster (3 silos, SQLite)
// dotnet run --project Silo -- --mode Single ... one silo per process (see README for the switches)
if (args.Contains("--help") || args.Contains("-h"))
{
    Console.WriteLine(SiloSettings.Usage);
    return 0;
}

if (SiloSettings.CommandLineProblem(args) is { } problem)
{
    Console.Error.WriteLine($"Invalid command line: {problem} (see --help).");
    return 2;
}

IConfigurationRoot configuration;
try
{
    configuration = SiloSettings.LoadConfiguration(args);
}
catch (FormatException e)
{
    // An option without its value, say.
    Console.Error.WriteLine($"Invalid command line: {e.Message} (see --help).");
    return 2;
}

SiloSettings settings;
StorageOptions storage;
try
{
    if (ActorCluster.Grains.Hosting.SettingsCheck.Unknown(configuration, ActorCluster.Grains.Hosting.SettingsCheck.SiloSections(typeof(SiloSettings))) is [_, ..] unknown)
    {
        throw new ArgumentException($"no such setting: {string.Join(", ", unknown)} (misspelt? --help lists the switches; the README, every setting)");
    }

    settings = ActorClusterSiloBuilderExtensions.Bind<SiloSettings>(configuration, SiloSettings.Section, _ => { });
    storage = ActorClusterSiloBuilderExtensions.Bind<StorageOptions>(configuration, StorageOptions.Section, s => s.Validate());
    settings.Validate(storage);
    ActorClusterSiloBuilderExtensions.Bind<ActorCluster.Grains.Replicas.RingOptions>(configuration, ActorCluster.Grains.Replicas.RingOptions.Section, r => r.Validate());
    ActorClusterSiloBuilderExtensions.Bind<ActorCluster.Grains.Replicas.ReplicaOptions>(configuration, ActorCluster.Grains.Replicas.ReplicaOptions.Section, r => r.Validate());
    ActorClusterSiloBuilderExtensions.Bind<ActorCluster.Grains.Shards.ShardOptions>(configuration, ActorCluster.Grains.Shards.ShardOptions.Section, s => s.Validate());
    ActorClusterSiloBuilderExtensions.Bind<ActorCluster.Grains.Replicas.KeyValueOptions>(configuration, ActorCluster.Grains.Replicas.KeyValueOptions.Section, k => k.Validate());
    // A certificate that cannot be loaded, or a gateway no client could pass, stops the silo here, by the setting's name.
    ActorClusterSiloBuilderExtensions.Bind<ActorCluster.Grains.Interfaces.Configuration.TlsSettings>(configuration, ActorCluster.Grains.Interfaces.Configuration.TlsSettings.Section, t =>
    {
        if (t.Enabled)
        {
            using var certificate = t.LoadCertificate();
            _ = t.TrustedClients(certificate);
        }
    });
}
catch (ArgumentException e)
{
    Console.Error.WriteLine($"Invalid configuration: {e.Message}");
    return 2;
}

if (Environment.GetEnvironmentVariable("ACTORCLUSTER_CHECK_ARGS") == "1")
{
    // The arguments and settings are valid; start nothing (how the README's commands are checked).
    return 0;
}

// Each silo keeps its replicas in a data directory of its own (one per silo in a local cluster);
// the silos share only cluster metadata (the ring's record, and membership on PostgreSQL).
var count = settings.Mode == SiloMode.Local ? settings.LocalSilos : 1;
var clusterId = configuration["ActorCluster:ClusterId"] ?? "actorcluster";
var stores = new List<StoreIncarnation>();
using var startupLogs = LoggerFactory.Create(logging => logging.AddSimpleConsole(o => o.SingleLine = true));
var startupLogger = startupLogs.CreateLogger("ActorCluster.Silo");
try
{
    await AdoReplicaStore.PrepareMetadataAsync(storage);
    for (var i = 0; i < count; i++)
    {
        var own = new StorageOptions
        {
            Provider = StorageProvider.Sqlite,
            DataDirectory = settings.Mode == SiloMode.Local ? Path.Combine(storage.DataDirectory, $"silo-{i}") : storage.DataDirectory,
            MaxWritesPerBatch = storage.MaxWritesPerBatch,
            MaxBatchBytes = storage.MaxBatchBytes,
            MinFreeBytes = storage.MinFreeBytes,
            SnapshotChunkBytes = storage.SnapshotChunkBytes,
        };
        // Fault tests may make the store's writes fail or stall (never outside them). A store
        // behind the cluster's record of it (restored from a backup) is set aside for a new one.
        stores.Add(await StoreIncarnation.OpenAsync(own, storage, clusterId, settings.FaultInjection ? new StoreFaults() : null, startupLogger));
    }
}
catch (Exception e) when (e is System.Data.Common.DbException or IOException or UnauthorizedAccessException or ArgumentException or StoreFormatException or StoreIdentityException)
{
    Console.Error.WriteLine($"Cannot open storage: {e.Message}");
    foreach (var opened in stores)
    {
        await opened.Store.DisposeAsync();
    }

    return 3;
}

try
{
    var silos = new List<WebApplication>();
    for (var i = 0; i < count; i++)
    {
        // The silos of a local cluster share the configured name as a prefix: names stay distinct.
        var name = count > 1 ? $"{settings.Name ?? "silo"}-{i}" : settings.Name ?? $"silo-{Environment.MachineName}-{settings.SiloPort}";
        var endpoints = new SiloHost.Endpoints(
            name,
            settings.SiloPort + i,
            settings.GatewayPort + i,
            settings.HttpPort == 0 ? 0 : settings.HttpPort + i,
            settings.Mode == SiloMode.Local ? settings.SiloPort : settings.PrimarySiloPort);
        silos.Add(SiloHost.Build(configuration, settings, storage, endpoints, stores[i]));
    }

    // The first silo of a local cluster is the primary: it must be up before the others join.
    try
    {
        await silos[0].StartAsync();
        await Task.WhenAll(silos.Skip(1).Select(s => s.StartAsync()));
    }
    catch (Exception e) when (e is IOException || InnerOf<Microsoft.AspNetCore.Connections.AddressInUseException>(e) is not null)
    {
        // A port in use (Kestrel's or Orleans's listener): say so, without a stack trace.
        Console.Error.WriteLine($"Cannot start: {e.Message} (is another silo using port {settings.SiloPort}, {settings.GatewayPort} or {settings.HttpPort}?)");
        return 4;
    }
    catch (Exception e) when (InnerOf<ActorCluster.Grains.Hosting.RingMismatchException>(e) is { } mismatch)
    {
        Console.Error.WriteLine($"Cannot start: {mismatch.Message}");
        return 5;
    }

    var ring = configuration.GetSection("ActorCluster:Ring");
    Console.WriteLine();
    Console.WriteLine($"ActorCluster {(count > 1 ? $"local development cluster: {count} silos" : "silo")} up; " +
        $"{ring["Shards"]} shards x {ring["ReplicationFactor"]} replicas");
    for (var i = 0; i < count; i++)
    {
        Console.WriteLine($"  store {stores[i].Identity.StoreHex}{(stores[i].Identity.IsNew ? " (new)" : string.Empty)}: {stores[i].Store.Description}"
            + (stores[i].SetAside is { } aside ? $" (its predecessor was not current and is set aside in {aside})" : string.Empty));
    }
    Console.WriteLine($"  gateways:  {string.Join(", ", Enumerable.Range(0, count).Select(i => $"localhost:{settings.GatewayPort + i}"))}");
    if (settings.HttpPort > 0)
    {
        Console.WriteLine($"  dashboard: http://localhost:{settings.HttpPort}/dashboard");
        Console.WriteLine($"  metrics:   http://localhost:{settings.HttpPort}/metrics   health: /healthz /readyz");
    }

    Console.WriteLine("Press Ctrl+C to stop.");
    var stopping = new TaskCompletionSource();
    Console.CancelKeyPress += (_, e) =>
    {
        e.Cancel = true;
        stopping.TrySetResult();
    };
    AppDomain.CurrentDomain.ProcessExit += (_, _) => stopping.TrySetResult();
    if (int.TryParse(Environment.GetEnvironmentVariable("ACTORCLUSTER_EXIT_WITH_PARENT"), out var parent))
    {
        // Started by a test or a benchmark: go when it goes, even if it was killed before it
        // could stop its children.
        _ = Task.Run(async () =>
        {
            while (Directory.Exists($"/proc/{parent}"))
            {
                await Task.Delay(1000);
            }

            stopping.TrySetResult();
        });
    }
    // Each host's console lifetime takes SIGTERM (what Kubernetes and `kill` send) and SIGINT, and
    // only signals its host to stop: stop them all here, gracefully, when any is asked to.
    foreach (var silo in silos)
    {
        silo.Lifetime.ApplicationStopping.Register(() => stopping.TrySetResult());
    }

    await stopping.Task;

    // The whole process stops: quiet every replica of every silo at once (nobody to hand
    // leadership to), so that no replica messages or re-activates a replica of a silo that left.
    if (silos.Count > 1)
    {
        await Task.WhenAll(silos.Select(s => s.Services.GetRequiredService<ActorCluster.Grains.Replicas.LocalReplicas>().StopAsync(handOver: false, CancellationToken.None)));
    }

    // Secondary silos first, the primary (membership holder) last.
    foreach (var silo in Enumerable.Reverse(silos))
    {
        await silo.StopAsync(TimeSpan.FromSeconds(20));
        await silo.DisposeAsync();
    }
}
finally
{
    foreach (var opened in stores)
    {
        await opened.Store.DisposeAsync();
    }
}

return 0;

// Orleans wraps what a start-up stage throws; find the cause we can explain.
static T? InnerOf<T>(Exception error)
    where T : Exception
{
    for (Exception? e = error; e is not null; e = e.InnerException)
    {
        if (e is T found)
        {
            return found;
        }

        if (e is AggregateException aggregate)
        {
            return aggregate.InnerExceptions.Select(InnerOf<T>).FirstOrDefault(x => x is not null);
        }
    }

    return null;
}

using ActorCluster.Grains.Hosting;
using ActorCluster.Grains.Placement;
using ActorCluster.Grains.Replicas;
using ActorCluster.Grains.Shards;
using ActorCluster.Grains.Storage;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using Npgsql;
using Orleans.Runtime.Hosting;
using Orleans.Runtime.MembershipService.SiloMetadata;

namespace Orleans.Hosting;

/// <summary>Adds ActorCluster's grains, placement, storage and start-up checks to a silo.</summary>
public static class ActorClusterSiloBuilderExtensions
{
    /// <summary>
    /// Registers everything an ActorCluster silo needs, configured from <paramref name="configuration"/>
    /// (sections <c>ActorCluster:Ring</c>, <c>:Raft</c>, <c>:Shard</c>, <c>:KeyValue</c>, <c>:Storage</c>).
    /// <paramref name="store"/> is this silo's own replica store and <paramref name="identity"/> its
    /// identity, which the silo publishes in Orleans silo metadata so that its replicas activate on
    /// it and nowhere else; <paramref name="metadata"/> is the database the silos share for cluster
    /// metadata (the ring's record): SQLite in a one-process development cluster, PostgreSQL otherwise.
    /// </summary>
    public static ISiloBuilder AddActorCluster(this ISiloBuilder silo, IConfiguration configuration, IReplicaStore store, StoreIdentity identity, StorageOptions metadata)
    {
        ArgumentNullException.ThrowIfNull(silo);
        ArgumentNullException.ThrowIfNull(configuration);
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(identity);
        ArgumentNullException.ThrowIfNull(metadata);
        var storage = Bind<StorageOptions>(configuration, StorageOptions.Section, o => o.Validate());
        var ring = Bind<RingOptions>(configuration, RingOptions.Section, o => o.Validate());
        var raft = Bind<ReplicaOptions>(configuration, ReplicaOptions.Section, o => o.Validate());
        var shard = Bind<ShardOptions>(configuration, ShardOptions.Section, o => o.Validate());
        var keyValue = Bind<KeyValueOptions>(configuration, KeyValueOptions.Section, o => o.Validate());
        var telemetry = Bind<TelemetryOptions>(configuration, TelemetryOptions.Section, o => o.Validate());

        var services = silo.Services;
        services.AddSingleton(Options.Create(ring));
        services.AddSingleton(Options.Create(raft));
        services.AddSingleton(Options.Create(shard));
        services.AddSingleton(Options.Create(storage));
        services.AddSingleton(Options.Create(keyValue));
        services.AddSingleton(Options.Create(telemetry));
        services.AddSingleton<ReplicaGauges>();
        services.AdmitDatabaseErrors();
        services.TryAddSingleton<ShardDirectory>();
        services.TryAddSingleton<RingGate>();
        services.AddSingleton(store);
        services.AddSingleton(new LocalStore(identity));
        services.AddSingleton<StoreDirectory>();
        silo.AddPlacementDirector<StorePlacement, StorePlacementDirector>();
        services.AddSingleton<StoreGrainDirectory>();
        silo.AddGrainDirectory(StoreGrainDirectory.Name, (sp, _) => sp.GetRequiredService<StoreGrainDirectory>());
        silo.AddGrainDirectory(UnregisteredGrainDirectory.Name, (_, _) => new UnregisteredGrainDirectory());
        silo.UseSiloMetadata(new Dictionary<string, string> { [StoreKey.MetadataKey] = identity.StoreHex });
        silo.AddAdoNetGrainStorage(RingGrain.StorageName, options =>
        {
            // Orleans maps the invariant "System.Data.SQLite" to Microsoft.Data.Sqlite.
            options.Invariant = metadata.Provider == StorageProvider.Sqlite ? "System.Data.SQLite" : "Npgsql";
            options.ConnectionString = metadata.Provider == StorageProvider.Sqlite
                ? $"Data Source={Path.GetFullPath(metadata.MetadataPath)}"
                : metadata.ConnectionString;
        });
        services.AddSingleton<ILifecycleParticipant<ISiloLifecycle>, RingStartup>();
        services.AddSingleton<LocalReplicas>();
        services.AddSingleton<ILifecycleParticipant<ISiloLifecycle>>(sp => sp.GetRequiredService<LocalReplicas>());
        services.AddSingleton<StoreLiveness>();
        services.AddSingleton<ILifecycleParticipant<ISiloLifecycle>>(sp => sp.GetRequiredService<StoreLiveness>());
        // Clients reach only what ClientAccess lists; a gateway connection speaks for its client only.
        services.AddSingleton<ClientAccessFilter>();
        services.AddSingleton<IIncomingGrainCallFilter>(sp => sp.GetRequiredService<ClientAccessFilter>());
        GatewaySourceCheck.Register(services);
        if (configuration.GetValue<bool>("ActorCluster:Silo:FaultInjection"))
        {
            // For fault tests only: lets a test harness cut Raft traffic between chosen silos.
            services.AddSingleton<NetworkFaults>();
            silo.AddIncomingGrainCallFilter<NetworkFaultFilter>();
        }

        // A client's trace continues through the router and the leader (W3C trace context in the
        // request context); Raft traffic carries its own (see Tracing).
        silo.AddActivityPropagation();
        return silo;
    }

    /// <summary>Uses PostgreSQL for cluster membership (schema applied by the replica store at start-up).</summary>
    public static ISiloBuilder UseActorClusterPostgresClustering(this ISiloBuilder silo, string connectionString)
    {
        ArgumentNullException.ThrowIfNull(silo);
        _ = new NpgsqlConnectionStringBuilder(connectionString);
        return silo.UseAdoNetClustering(options =>
        {
            options.Invariant = "Npgsql";
            options.ConnectionString = connectionString;
        });
    }

    /// <summary>Binds and validates one options section, so a bad setting stops the silo with its name.</summary>
    public static T Bind<T>(IConfiguration configuration, string section, Action<T> validate)
        where T : class, new()
    {
        ArgumentNullException.ThrowIfNull(configuration);
        ArgumentNullException.ThrowIfNull(validate);
        var options = new T();
        try
        {
            configuration.GetSection(section).Bind(options);
        }
        catch (InvalidOperationException e)
        {
            throw new ArgumentException($"{section}: {e.Message}", e);
        }

        validate(options);
        return options;
    }
}

using ActorCluster.Grains.Hosting;
using ActorCluster.Grains.Interfaces;
using ActorCluster.Grains.Placement;
using ActorCluster.Grains.Raft;
using ActorCluster.Grains.Replicas;
using ActorCluster.Grains.Shards;
using ActorCluster.Grains.Storage;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Orleans.Hosting;

/// <summary>
/// When the silo becomes active: checks that the configured ring shape is the one the cluster was
/// created with and opens the <see cref="RingGate"/> (until then no replica of this silo loads);
/// then registers its store with the cluster, creates the founding replicas placed on it (once,
/// when the cluster first has enough stores), and activates every replica its store holds, so that
/// shards elect leaders before clients arrive.
/// </summary>
/// <remarks>
/// A mismatch stops the silo, and so does a ring that cannot be read within
/// <see cref="RingOptions.StartupCheckSeconds"/>: a silo that cannot tell whether its ring is the
/// cluster's must not host replicas. Either way the start fails with a <see cref="RingMismatchException"/>.
/// </remarks>
internal sealed partial class RingStartup(
    IGrainFactory grains,
    IOptions<RingOptions> ring,
    RingGate gate,
    IReplicaStore store,
    LocalStore localStore,
    ILocalSiloDetails localSilo,
    ShardDirectory routes,
    ILogger<RingStartup> logger) : ILifecycleParticipant<ISiloLifecycle>, IDisposable
{
    private static readonly TimeSpan AttemptTimeout = TimeSpan.FromSeconds(10);

    /// <summary>How often this silo's routers re-read every shard's group from the ring.</summary>
    internal static readonly TimeSpan RoutesRefresh = TimeSpan.FromSeconds(30);

    private readonly CancellationTokenSource _stopping = new();

    public void Participate(ISiloLifecycle lifecycle) =>
        lifecycle.Subscribe(nameof(RingStartup), ServiceLifecycleStage.Active, OnActiveAsync, OnStopAsync);

    private async Task OnActiveAsync(CancellationToken cancellationToken)
    {
        var ringGrain = grains.GetGrain<IRingGrain>(IRingGrain.DefaultKey);
        var configured = ring.Value;
        RingDescriptor? recorded = null;
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(configured.StartupCheckSeconds);
        Exception? lastError = null;
        while (recorded is null && DateTime.UtcNow < deadline)
        {
            try
            {
                recorded = await ringGrain.GetRing().WaitAsync(AttemptTimeout, cancellationToken);
            }
            catch (Exception e) when (e is TimeoutException or OrleansException)
            {
                lastError = e;
                LogRingUnreachable(e.Message);
                await Task.Delay(TimeSpan.FromSeconds(1), cancellationToken);
            }
        }

        if (recorded is null)
        {
            throw Refuse(new RingMismatchException(
                $"{RingOptions.Section}: could not read the cluster's ring within {configured.StartupCheckSeconds}s ({lastError?.Message}); " +
                "refusing to host replicas without knowing the ring is the cluster's.", lastError!));
        }

        if (recorded.Shards != configured.Shards || recorded.ReplicationFactor != configured.ReplicationFactor)
        {
            throw Refuse(new RingMismatchException(
                $"{RingOptions.Section}: this silo is configured with {configured.Shards} shards x {configured.ReplicationFactor} replicas, " +
                $"but the cluster was created with {recorded.Shards} x {recorded.ReplicationFactor}. Use the cluster's values."));
        }

        gate.Open(recorded);
        _ = Task.Run(() => KeepRoutesAsync(ringGrain), CancellationToken.None);

        if (localStore.Identity is { } identity)
        {
            // Not holding up the start: founders wait for enough stores, which may be still starting.
            _ = Task.Run(() => HostReplicasAsync(ringGrain, recorded, identity.StoreId), CancellationToken.None);
        }
    }

    private async Task HostReplicasAsync(IRingGrain ringGrain, RingDescriptor recorded, ulong storeId)
    {
        RingFounders? founders = null;
        while (founders is null && !gate.Verified.IsFaulted)
        {
            try
            {
                founders = await ringGrain.RegisterStore(storeId, localSilo.Name).WaitAsync(AttemptTimeout);
            }
            catch (Exception e) when (e is TimeoutException or OrleansException)
            {
                LogRingUnreachable(e.Message);
            }

            if (founders is null)
            {
                await Task.Delay(TimeSpan.FromSeconds(1));
            }
        }

        try
        {
            var created = 0;
            for (var shard = 0; founders is not null && shard < recorded.Shards; shard++)
            {
                var stores = founders.Stores[shard];
                var config = new ClusterConfig(
                    Enumerable.Range(1, stores.Length).Select(i => (ulong)i),
                    [],
                    Enumerable.Range(1, stores.Length).ToDictionary(i => (ulong)i, i => stores[i - 1]));
                for (var slot = 0; slot < stores.Length; slot++)
                {
                    // Idempotent: a founder created before (or removed since) is left as it is.
                    if (stores[slot] == storeId && await store.CreateReplicaAsync(ReplicaId.Format(shard, (ulong)slot + 1, storeId), config))
                    {
                        created++;
                    }
                }
            }

            var held = await store.ListReplicasAsync();
            LogHosting(storeId, created, held.Count);
            await Task.WhenAll(held.Select(key => grains.GetGrain<IRaftReplicaGrain>(key).Wake().WaitAsync(TimeSpan.FromSeconds(60))));
        }
        catch (Exception e) when (e is TimeoutException or OrleansException or System.Data.Common.DbException or ReplicaStoreUnavailableException)
        {
            LogWakeFailed(e);
        }
    }

    /// <summary>
    /// Gives this silo's routers every shard's group as soon as founders are placed, and again every
    /// <see cref="RoutesRefresh"/>: a router then never has to reach the ring (a single grain, which
    /// may be on a silo that has just died) to route a shard it has not served before. Replies from
    /// replicas keep the groups current in between.
    /// </summary>
    private async Task KeepRoutesAsync(IRingGrain ringGrain)
    {
        var stopping = _stopping.Token;
        while (!stopping.IsCancellationRequested)
        {
            var next = TimeSpan.FromSeconds(1);
            try
            {
                if (await ringGrain.GetAllMembers().WaitAsync(AttemptTimeout, stopping) is { } all)
                {
                    for (var shard = 0; shard < all.Length; shard++)
                    {
                        routes.Learn(shard, all[shard]);
                    }

                    next = RoutesRefresh;
                }

                await Task.Delay(next, stopping);
            }
            catch (OperationCanceledException) when (stopping.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e) when (e is TimeoutException or OrleansException)
            {
                LogRingUnreachable(e.Message);
                await Task.Delay(next, CancellationToken.None);
            }
        }
    }

    public void Dispose()
    {
        _stopping.Cancel();
        _stopping.Dispose();
    }

    private Task OnStopAsync(CancellationToken cancellationToken)
    {
        _stopping.Cancel();
        gate.Refuse(new RingMismatchException("The silo stopped before its ring was verified."));
        return Task.CompletedTask;
    }

    private RingMismatchException Refuse(RingMismatchException error)
    {
        LogRefused(error.Message);
        gate.Refuse(error);
        return error;
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "The ring configuration grain did not answer yet ({Reason}); retrying")]
    private partial void LogRingUnreachable(string reason);

    [LoggerMessage(Level = LogLevel.Critical, Message = "Refusing to start: {Reason}")]
    private partial void LogRefused(string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "Store {Store:x16}: created {Created} founding replicas; activating the {Held} replicas it holds")]
    private partial void LogHosting(ulong store, int created, int held);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not activate every local replica at start-up; they will activate on first use")]
    private partial void LogWakeFailed(Exception error);
}

using System.Diagnostics;
using ActorCluster.Grains.Hosting;
using ActorCluster.Grains.Placement;
using ActorCluster.Grains.Storage;
using Microsoft.Extensions.DependencyInjection;
using Orleans.GrainDirectory;
using Orleans.TestingHost;
using Xunit.Abstractions;

namespace ActorCluster.Tests.Cluster;

/// <summary>A grain whose key names a store, to show where store placement puts it.</summary>
public interface IStoreProbeGrain : IGrainWithStringKey
{
    /// <summary>The store of the silo this activation runs on, and that silo's address.</summary>
    Task<(string Store, string Silo)> WhereAmI();
}

[StorePlacement]
[GrainDirectory(StoreGrainDirectory.Name)]
public sealed class StoreProbeGrain(LocalStore localStore, ILocalSiloDetails silo) : Grain, IStoreProbeGrain
{
    public Task<(string Store, string Silo)> WhereAmI() =>
        Task.FromResult((localStore.Identity?.StoreHex ?? "none", silo.SiloAddress.ToString()));
}

/// <summary>
/// Store placement on a real Orleans cluster: silos publish their store ids as silo metadata, and a
/// grain whose key names a store activates on that store's silo and nowhere else — not when the
/// store is unknown, not when its silo is dead.
/// </summary>
public sealed class StorePlacementClusterTests(ITestOutputHelper output)
{
    [Fact]
    public async Task A_grain_activates_only_on_the_silo_of_its_store_and_fails_fast_when_that_silo_is_gone()
    {
        var stores = new Dictionary<string, StoreIdentity>();
        var (cluster, shared) = await StartAsync(stores);
        await using var _ = cluster;
        try
        {
            var bySilo = cluster.Silos.ToDictionary(s => s.SiloAddress.ToString(), s => stores[s.Name].StoreHex);

            // Every store's grains land on its silo, whoever calls (metadata may take a moment to spread).
            foreach (var (silo, store) in bySilo)
            {
                for (var i = 0; i < 5; i++)
                {
                    var key = StoreKey.Format($"probe-{i}", ulong.Parse(store, System.Globalization.NumberStyles.HexNumber));
                    var (where, address) = await RetryAsync(() => cluster.Client.GetGrain<IStoreProbeGrain>(key).WhereAmI());
                    Assert.Equal(store, where);
                    Assert.Equal(silo, address);
                }
            }

            // A store no silo holds: refused at once, nothing activated.
            var watch = Stopwatch.StartNew();
            var unknown = StoreKey.Format("probe", 0x1234_5678_9abc_def0);
            await Assert.ThrowsAsync<StoreUnavailableException>(() => cluster.Client.GetGrain<IStoreProbeGrain>(unknown).WhereAmI());
            Assert.True(watch.Elapsed < TimeSpan.FromSeconds(2), $"took {watch.Elapsed}");

            // The silo of one store dies: once Orleans has declared it dead, a call to a new grain of
            // that store fails fast, and never runs on a surviving silo.
            var victim = cluster.Silos.First(s => s.Name != cluster.Silos[0].Name);
            var victimStore = stores[victim.Name];
            await cluster.KillSiloAsync(victim);
            var deadline = Stopwatch.StartNew();
            Exception? last = null;
            while (deadline.Elapsed < TimeSpan.FromSeconds(60))
            {
                watch.Restart();
                try
                {
                    var (where, _) = await cluster.Client.GetGrain<IStoreProbeGrain>(StoreKey.Format($"after-{deadline.ElapsedMilliseconds}", victimStore.StoreId)).WhereAmI();
                    Assert.Fail($"activated on store {where}, not on the dead store {victimStore.StoreHex}");
                }
                catch (StoreUnavailableException e)
                {
                    last = e;
                    output.WriteLine($"refused {deadline.Elapsed.TotalSeconds:0.0}s after the kill, in {watch.ElapsedMilliseconds} ms: {e.Message}");
                    break;
                }
                catch (Exception e) when (e is TimeoutException or OrleansException)
                {
                    // Before the silo is declared dead, calls may still be sent to it.
                    last = e;
                    output.WriteLine($"{deadline.Elapsed.TotalSeconds:0.0}s: {e.GetType().Name} after {watch.ElapsedMilliseconds} ms");
                }
            }

            Assert.IsType<StoreUnavailableException>(last);
            Assert.True(watch.Elapsed < TimeSpan.FromSeconds(2), $"the refusal took {watch.Elapsed}");

            // A grain that was active on the dead silo is not brought back anywhere else either.
            var before = StoreKey.Format("probe-0", victimStore.StoreId);
            // (Orleans first sends the call to the activation it knows of, on the dead silo, and
            // re-places it only once that fails: how long that takes is the failover's floor.)
            watch.Restart();
            await Assert.ThrowsAsync<StoreUnavailableException>(() => cluster.Client.GetGrain<IStoreProbeGrain>(before).WhereAmI());
            output.WriteLine($"a call to a grain that was active on the dead silo was refused after {watch.ElapsedMilliseconds} ms");
        }
        finally
        {
            await shared.DisposeAsync();
        }
    }

    [Fact]
    public async Task Every_silo_finds_a_stores_grains_from_its_own_memory_and_refuses_other_silos()
    {
        // No directory partition on a third silo: a silo answers where a store's grain lives from
        // the silo metadata it already has, so a killed silo elsewhere cannot hold the answer up.
        var stores = new Dictionary<string, StoreIdentity>();
        var (cluster, shared) = await StartAsync(stores);
        await using var _ = cluster;
        try
        {
            var directories = cluster.Silos.ToDictionary(s => s.Name, s => ActivatorUtilities.CreateInstance<StoreGrainDirectory>(s.ServiceProvider));
            GrainId Probe(StoreIdentity store) => GrainId.Create("storeprobe", StoreKey.Format("probe", store.StoreId));

            // Every silo resolves every store's grain to that store's silo (metadata may take a moment to spread).
            await ClusterAssertions.EventuallyAsync(async () =>
            {
                foreach (var asking in cluster.Silos)
                {
                    foreach (var holder in cluster.Silos)
                    {
                        var address = await directories[asking.Name].Lookup(Probe(stores[holder.Name]));
                        if (address?.SiloAddress is null || !address.SiloAddress.Equals(holder.SiloAddress))
                        {
                            return false;
                        }
                    }
                }

                return true;
            }, TimeSpan.FromSeconds(30), "every silo resolves every store's grains to that store's silo");

            // An activation of a store's grain on another silo is answered with the store's silo
            // (Orleans deactivates it and forwards its messages); on the store's own silo it stands.
            var (first, second) = (cluster.Silos[0], cluster.Silos[1]);
            var grain = Probe(stores[first.Name]);
            var onOwn = new GrainAddress { GrainId = grain, SiloAddress = first.SiloAddress, ActivationId = ActivationId.NewId() };
            Assert.Same(onOwn, await directories[first.Name].Register(onOwn));
            var elsewhere = new GrainAddress { GrainId = grain, SiloAddress = second.SiloAddress, ActivationId = ActivationId.NewId() };
            Assert.Equal(first.SiloAddress, (await directories[second.Name].Register(elsewhere))?.SiloAddress);

            // A store no silo holds has no address and no activation anywhere.
            var unknown = GrainId.Create("storeprobe", StoreKey.Format("probe", 0x1234_5678_9abc_def0));
            Assert.Null(await directories[first.Name].Lookup(unknown));
            Assert.Null(await directories[first.Name].Register(new GrainAddress { GrainId = unknown, SiloAddress = first.SiloAddress, ActivationId = ActivationId.NewId() }));

            // Its silo gone, a store's grains have no address on the silos left.
            var victim = cluster.Silos[2];
            var gone = Probe(stores[victim.Name]);
            await cluster.StopSiloAsync(victim);
            await ClusterAssertions.EventuallyAsync(
                async () => await directories[first.Name].Lookup(gone) is null && await directories[second.Name].Lookup(gone) is null,
                TimeSpan.FromSeconds(30),
                "the stopped silo's store has no address");
        }
        finally
        {
            await shared.DisposeAsync();
        }
    }

    private static async Task<(InProcessTestCluster Cluster, AdoReplicaStore Shared)> StartAsync(Dictionary<string, StoreIdentity> stores)
    {
        var storage = await Storage.StorageFixture.FreshAsync(StorageProvider.Sqlite);
        var shared = await AdoReplicaStore.OpenAsync(storage);
        await AdoReplicaStore.PrepareMetadataAsync(storage);
        var configuration = TestCluster.Configuration(storage, 2, TestCluster.FastFailureDetection);
        var builder = new InProcessTestClusterBuilder(3);
        builder.Options.ServiceId = "actorcluster";
        builder.ConfigureSilo((options, silo) =>
        {
            StoreIdentity identity;
            lock (stores)
            {
                if (!stores.TryGetValue(options.SiloName, out identity!))
                {
                    identity = stores[options.SiloName] = new StoreIdentity("test", (ulong)Random.Shared.NextInt64(1, long.MaxValue), IsNew: true);
                }
            }

            silo.AddActorCluster(configuration, shared, identity, storage);
            // The test's client calls its probe grain, and Orleans' test cluster its test hooks.
            silo.Services.Configure<ClientAccessOptions>(o =>
            {
                o.OpenInterfaces.Add(typeof(IStoreProbeGrain).FullName!);
                o.OpenInterfaces.Add("Orleans.Runtime.TestHooks.ITestHooks");
            });
            silo.Configure<Orleans.Configuration.ClusterMembershipOptions>(configuration.GetSection("Orleans:ClusterMembership"));
        });
        var cluster = builder.Build();
        await cluster.DeployAsync();
        return (cluster, shared);
    }

    private static async Task<T> RetryAsync<T>(Func<Task<T>> call)
    {
        for (var attempt = 0; ; attempt++)
        {
            try
            {
                return await call();
            }
            catch (StoreUnavailableException) when (attempt < 50)
            {
                await Task.Delay(200);
            }
        }
    }
}

using System.Reflection;
using ActorCluster.Grains.Hosting;
using ActorCluster.Grains.Interfaces;
using ActorCluster.Grains.Replicas;
using ActorCluster.Tests.Cluster;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Orleans.Serialization.Configuration;
using static ActorCluster.Tests.Cluster.ClusterAssertions;

namespace ActorCluster.Tests.Security;

/// <summary>
/// Clients reach what the allow-list names and nothing else: every grain and system-target method
/// a silo registers is closed to clients unless listed, and this test's list must change with it.
/// </summary>
public sealed class ClientAccessTests
{
    /// <summary>Everything a client may call. Opening a method means adding it here, on purpose.</summary>
    private static readonly string[] OpenToClients =
    [
        "ActorCluster.Grains.Interfaces.IRingGrain.GetAllMembers",
        "ActorCluster.Grains.Interfaces.IRingGrain.GetFounders",
        "ActorCluster.Grains.Interfaces.IRingGrain.GetMembers",
        "ActorCluster.Grains.Interfaces.IRingGrain.GetRing",
        "ActorCluster.Grains.Interfaces.IRingGrain.GetStatus",
        "ActorCluster.Grains.Interfaces.IRingGrain.GetStores",
        "ActorCluster.Grains.Interfaces.IShardGrain.Execute",
        "ActorCluster.Grains.Interfaces.IShardGrain.GetStatus",
        "ActorCluster.Grains.Interfaces.IShardGrain.Read",
        "ActorCluster.Grains.Interfaces.IShardGrain.Write",
        "Orleans.Runtime.IClusterManifestSystemTarget.GetClusterManifest",
        "Orleans.Runtime.IClusterManifestSystemTarget.GetClusterManifestUpdate",
    ];

    [Fact]
    public async Task Every_method_the_silos_register_is_closed_to_clients_unless_listed()
    {
        await using var test = await TestCluster.StartAsync(shards: 1);
        var interfaces = test.Cluster.Silos[0].ServiceProvider.GetRequiredService<IOptions<TypeManifestOptions>>().Value.Interfaces;
        // The Orleans Dashboard's grains are on every real silo (not on the test cluster's): count
        // them too, from the silo's own build (this project does not reference ASP.NET Core).
        var methods = interfaces.Concat(DashboardGrainInterfaces())
            .Where(t => t.IsInterface && typeof(IAddressable).IsAssignableFrom(t))
            .SelectMany(t => new[] { t }.Concat(t.GetInterfaces()))
            .Distinct()
            .SelectMany(t => t.GetMethods(BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance | BindingFlags.DeclaredOnly))
            .ToList();

        // The enumeration sees what matters: our control grains and Orleans' own services are there.
        var names = methods.Select(Name).ToHashSet();
        Assert.Contains("ActorCluster.Grains.Replicas.IRaftReplicaGrain.Deliver", names);
        Assert.Contains("ActorCluster.Grains.Interfaces.IRingGrain.ReportMembers", names);
        Assert.Contains("ActorCluster.Grains.Replicas.IStorePulseGrain.Pulse", names);
        Assert.Contains("Orleans.Runtime.IManagementGrain.ForceGarbageCollection", names);
        Assert.Contains(names, n => n.StartsWith("Orleans.Dashboard.", StringComparison.Ordinal));
        Assert.True(methods.Count > 100, $"{methods.Count} methods");

        Assert.Equal(OpenToClients, methods.Where(ClientAccess.Allows).Select(Name).Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task A_client_is_refused_the_rings_writes_store_pulses_replicas_and_orleans_management()
    {
        await using var test = await TestCluster.StartAsync(shards: 1);
        await test.Client.PutAsync("k", [1]);
        var status = await StatusOf(test.Client, 0);
        var client = test.Cluster.Client;
        var ring = client.GetGrain<IRingGrain>(IRingGrain.DefaultKey);
        var before = await ring.GetMembers(0);
        var stores = await ring.GetStores();

        await Assert.ThrowsAsync<UnauthorizedAccessException>(() => ring.ReportMembers(0, before! with { ConfigIndex = ulong.MaxValue }));
        await Assert.ThrowsAsync<UnauthorizedAccessException>(() => ring.RegisterStore(0x1234, "forged"));
        var replica = client.GetGrain<IRaftReplicaGrain>(TestCluster.KeyOf(status.Replicas[0]));
        await Assert.ThrowsAsync<UnauthorizedAccessException>(() => replica.GetStatus());
        await Assert.ThrowsAsync<UnauthorizedAccessException>(() => replica.Removed());
        var management = client.GetGrain<IManagementGrain>(0);
        await Assert.ThrowsAsync<UnauthorizedAccessException>(() => management.GetHosts());
        await Assert.ThrowsAsync<UnauthorizedAccessException>(() => management.ForceActivationCollection(TimeSpan.Zero));

        // One-way calls cannot answer with a refusal: they are dropped, and counted.
        var filters = test.Cluster.Silos.Select(s => s.ServiceProvider.GetRequiredService<ClientAccessFilter>()).ToList();
        var refusedBefore = filters.Sum(f => f.Refused);
        var store = stores.Keys.First();
        await client.GetGrain<IStorePulseGrain>(Grains.Placement.StoreKey.Format("pulse", store)).Pulse(new StorePulse(null, 0xBAD, 99));
        await EventuallyAsync(() => Task.FromResult(filters.Sum(f => f.Refused) > refusedBefore), TimeSpan.FromSeconds(10), "the forged pulse is refused");

        // The ring kept what it had, and a client still works.
        Assert.Equal(before!.ConfigIndex, (await ring.GetMembers(0))!.ConfigIndex);
        Assert.Equal(stores.Keys.Order(), (await ring.GetStores()).Keys.Order());
        Assert.Equal([1], (await test.Client.GetAsync("k"))!.Value.Value);
        Assert.Equal(0, (await client.GetGrain<IShardGrain>(0).GetStatus()).Shard);
    }

    private static string Name(MethodInfo method) => $"{method.DeclaringType!.FullName}.{method.Name}";

    private static List<Type> DashboardGrainInterfaces()
    {
        var path = Path.Combine(Path.GetDirectoryName(Processes.Programs.SiloDll)!, "Orleans.Dashboard.dll");
        Type?[] types;
        try
        {
            types = Assembly.LoadFrom(path).GetTypes();
        }
        catch (ReflectionTypeLoadException e)
        {
            // Types that need ASP.NET Core do not load here; grain interfaces do not need it.
            types = e.Types;
        }

        var grains = types.OfType<Type>().Where(t => t.IsInterface && typeof(IAddressable).IsAssignableFrom(t)).ToList();
        Assert.NotEmpty(grains);
        return grains;
    }
}

using Microsoft.Extensions.DependencyInjection;
using Orleans.GrainDirectory;
using Orleans.Runtime.MembershipService.SiloMetadata;

namespace ActorCluster.Grains.Placement;

/// <summary>
/// The grain directory of grains placed by <see cref="StorePlacement"/>. Where such a grain lives
/// follows from its key (the store) and the silo metadata every silo already has (which active
/// silo holds that store), so a lookup is answered on the asking silo, from memory.
/// </summary>
/// <remarks>
/// Orleans's default directory keeps each grain's entry on one silo chosen by hashing the grain id.
/// With it, a call between two replicas on live silos could stall until Orleans declared a third,
/// killed silo dead (seconds with the default failure detector), merely because the entry lived
/// there: after a leader's silo was killed, the two surviving followers of its shard, which had
/// never called each other, could not address each other, and the shard could not elect a leader.
/// Here nothing depends on a silo other than the caller's and the callee's.
/// </remarks>
public sealed class StoreGrainDirectory(
    IClusterMembershipService membership,
    LocalStore localStore,
    ILocalSiloDetails localSilo,
    IServiceProvider services) : IGrainDirectory
{
    /// <summary>The name grain classes give in <see cref="GrainDirectoryAttribute"/>.</summary>
    public const string Name = "actorcluster-store";

    // Registered only on silos that publish a store (UseSiloMetadata).
    private readonly ISiloMetadataCache? _metadata = services.GetService<ISiloMetadataCache>();

    /// <summary>
    /// The address of <paramref name="grainId"/>: the silo that holds its store, or null when no
    /// active silo holds it (placement then refuses to activate it anywhere).
    /// </summary>
    public Task<GrainAddress?> Lookup(GrainId grainId) =>
        Task.FromResult(HostOf(grainId) is { } silo ? AddressOn(grainId, silo) : null);

    /// <summary>
    /// Accepts an activation on the silo that holds the grain's store. An activation anywhere else
    /// is answered with the store's silo (Orleans then deactivates it and forwards its messages
    /// there), or with null when no active silo holds the store.
    /// </summary>
    public Task<GrainAddress?> Register(GrainAddress address)
    {
        ArgumentNullException.ThrowIfNull(address);
        var host = HostOf(address.GrainId);
        if (host is null)
        {
            return Task.FromResult<GrainAddress?>(null);
        }

        return Task.FromResult<GrainAddress?>(host.Equals(address.SiloAddress) ? address : AddressOn(address.GrainId, host));
    }

    /// <inheritdoc cref="Register(GrainAddress)"/>
    public Task<GrainAddress?> Register(GrainAddress address, GrainAddress? previousAddress) => Register(address);

    /// <summary>Nothing to remove: no entry is kept.</summary>
    public Task Unregister(GrainAddress address) => Task.CompletedTask;

    /// <summary>Nothing to remove: a silo that leaves membership stops being any store's host.</summary>
    public Task UnregisterSilos(List<SiloAddress> siloAddresses) => Task.CompletedTask;

    /// <summary>
    /// The silo holding the store that <paramref name="grainId"/>'s key names: this silo when its own
    /// store is named (even before it is active, as its replicas start during start-up; not once it
    /// is stopping), else the active silo whose metadata names it.
    /// </summary>
    public SiloAddress? HostOf(GrainId grainId)
    {
        if (!StoreKey.TryParseStore(grainId.Key.ToString(), out var store))
        {
            return null;
        }

        if (localStore.Identity?.StoreId == store)
        {
            // Not once this silo is stopping: as Orleans's own placement, no new activation on a
            // silo that is shutting down.
            return membership.CurrentSnapshot.GetSiloStatus(localSilo.SiloAddress).IsTerminating() ? null : localSilo.SiloAddress;
        }

        if (_metadata is null)
        {
            return null;
        }

        // The newest generation if two are listed active (a silo restarted on its disk, before the
        // old generation is marked dead).
        var hex = Storage.StoreIdentity.Hex(store);
        SiloAddress? host = null;
        foreach (var member in membership.CurrentSnapshot.Members.Values)
        {
            if (member.Status == SiloStatus.Active
                && (host is null || member.SiloAddress.Generation > host.Generation)
                && _metadata.GetSiloMetadata(member.SiloAddress).Metadata.TryGetValue(StoreKey.MetadataKey, out var held)
                && held == hex)
            {
                host = member.SiloAddress;
            }
        }

        return host;
    }

    private GrainAddress AddressOn(GrainId grainId, SiloAddress silo) => new()
    {
        GrainId = grainId,
        SiloAddress = silo,
        MembershipVersion = membership.CurrentSnapshot.Version,
    };
}

/// <summary>
/// The grain directory of stateless workers, which Orleans never registers: a lookup answers "not
/// registered" on the asking silo instead of asking the silo that the default directory hashes the
/// grain id to (and waiting on it when that silo has just died), and the worker is then placed on
/// the asking silo as usual.
/// </summary>
public sealed class UnregisteredGrainDirectory : IGrainDirectory
{
    /// <summary>The name grain classes give in <see cref="GrainDirectoryAttribute"/>.</summary>
    public const string Name = "actorcluster-unregistered";

    public Task<GrainAddress?> Lookup(GrainId grainId) => Task.FromResult<GrainAddress?>(null);

    /// <summary>Accepts whatever registers (stateless workers do not).</summary>
    public Task<GrainAddress?> Register(GrainAddress address) => Task.FromResult<GrainAddress?>(address);

    public Task Unregister(GrainAddress address) => Task.CompletedTask;

    public Task UnregisterSilos(List<SiloAddress> siloAddresses) => Task.CompletedTask;
}

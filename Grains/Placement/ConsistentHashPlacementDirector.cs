using System.Collections.Immutable;
using System.Globalization;
using ActorCluster.Grains.Replicas;
using ActorCluster.Grains.Ring;
using Microsoft.Extensions.Options;
using Orleans.Runtime.Placement;

namespace ActorCluster.Grains.Placement;

/// <summary>
/// Chooses the silo for a new replica activation: a placement hint (migration) wins; otherwise the
/// silo that <see cref="ReplicaPlacement"/> assigns to the replica's shard and slot over the
/// compatible silos. Silos are keyed by endpoint, not by address, so a restarted silo keeps its
/// replicas. Thread-safe: the placement for a silo set is computed once and shared.
/// </summary>
public sealed class ConsistentHashPlacementDirector(IOptions<RingOptions> ringOptions) : IPlacementDirector
{
    private readonly RingOptions _ring = ringOptions.Value;
    private volatile CachedPlacement? _cached;

    public Task<SiloAddress> OnAddActivation(PlacementStrategy strategy, PlacementTarget target, IPlacementContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var compatible = context.GetCompatibleSilos(target);
        if (IPlacementDirector.GetPlacementHint(target.RequestContextData, compatible) is { } hinted)
        {
            return Task.FromResult(hinted);
        }

        if (compatible.Length == 0)
        {
            throw new OrleansException($"No compatible silo to place {target.GrainIdentity}.");
        }

        var key = target.GrainIdentity.Key.ToString();
        if (!ReplicaId.TryParse(key, out var shard, out var slot) || shard >= _ring.Shards || slot > _ring.ReplicationFactor)
        {
            // Not a replica of this ring: any silo will do, deterministically.
            return Task.FromResult(compatible[(int)((uint)StringComparer.Ordinal.GetHashCode(key) % (uint)compatible.Length)]);
        }

        return Task.FromResult(TargetOf(shard, slot, compatible));
    }

    /// <summary>The silo the placement assigns to a replica, among <paramref name="silos"/>.</summary>
    public SiloAddress TargetOf(int shard, int slot, SiloAddress[] silos) => PlacementFor(silos).SiloOf(shard, slot);

    /// <summary>The slot (1-based) that should lead <paramref name="shard"/> over <paramref name="silos"/>.</summary>
    public int PreferredLeaderSlot(int shard, SiloAddress[] silos) => PlacementFor(silos).Placement.LeaderSlotOf(shard) + 1;

    private CachedPlacement PlacementFor(SiloAddress[] silos)
    {
        var cached = _cached;
        if (cached is null || !cached.Matches(silos))
        {
            cached = new CachedPlacement(silos, ReplicaPlacement.Compute([.. silos.Select(KeyOf)], _ring.Shards, _ring.ReplicationFactor));
            _cached = cached;
        }

        return cached;
    }

    /// <summary>The placement-relevant identity of a silo: its endpoint, without the generation.</summary>
    public static ulong KeyOf(SiloAddress silo)
    {
        ArgumentNullException.ThrowIfNull(silo);
        return SiloKey.Of(string.Create(CultureInfo.InvariantCulture, $"{silo.Endpoint.Address}:{silo.Endpoint.Port}"));
    }

    private sealed class CachedPlacement(SiloAddress[] silos, ReplicaPlacement placement)
    {
        private readonly ImmutableHashSet<SiloAddress> _silos = [.. silos];
        // A silo restarted on the same endpoint may briefly appear twice: the newest generation wins.
        private readonly Dictionary<ulong, SiloAddress> _byKey = silos.GroupBy(KeyOf).ToDictionary(g => g.Key, g => g.MaxBy(s => s.Generation)!);

        public ReplicaPlacement Placement => placement;

        public bool Matches(SiloAddress[] silos) => silos.Length == _silos.Count && silos.All(_silos.Contains);

        public SiloAddress SiloOf(int shard, int slot) => _byKey[placement.SiloOf(shard, slot - 1)];
    }
}

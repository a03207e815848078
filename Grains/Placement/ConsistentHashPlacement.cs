using Orleans.Placement;

namespace ActorCluster.Grains.Placement;

/// <summary>
/// Places replica grains (<c>{shard}/{slot}</c>) by rendezvous hashing over the live silos (see
/// <see cref="Ring.ReplicaPlacement"/>): a shard's replicas land on distinct silos, load stays
/// even, and a silo joining or leaving moves few replicas.
/// </summary>
[GenerateSerializer, Immutable, Alias("ac.ConsistentHashPlacement")]
public sealed class ConsistentHashPlacement : PlacementStrategy
{
    public static readonly ConsistentHashPlacement Singleton = new();
}

/// <summary>Marks a grain class to be placed with <see cref="ConsistentHashPlacement"/>.</summary>
[AttributeUsage(AttributeTargets.Class, AllowMultiple = false)]
public sealed class ConsistentHashPlacementAttribute() : PlacementAttribute(ConsistentHashPlacement.Singleton);

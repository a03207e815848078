using System.Collections.Concurrent;

namespace ActorCluster.Grains.Shards;

/// <summary>
/// The last known leader slot of each shard, shared by every shard-grain activation on a silo
/// (they are stateless workers). A hint only: a wrong entry costs one redirect.
/// </summary>
public sealed class LeaderCache
{
    private readonly ConcurrentDictionary<int, int> _leaders = new();

    /// <summary>The cached leader slot, or 1 when nothing is known yet.</summary>
    public int LeaderOf(int shard) => _leaders.TryGetValue(shard, out var slot) ? slot : 1;

    public void Remember(int shard, int slot) => _leaders[shard] = slot;
}

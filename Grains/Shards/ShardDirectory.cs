using System.Collections.Concurrent;
using ActorCluster.Grains.Interfaces;

namespace ActorCluster.Grains.Shards;

/// <summary>
/// What this silo knows of each shard's replicas: their ids and stores (the newest configuration
/// any replica reported) and the last known leader. Shared by every shard-grain activation on the
/// silo (they are stateless workers). Hints only: a stale entry costs a redirect.
/// </summary>
public sealed class ShardDirectory
{
    private readonly ConcurrentDictionary<int, ShardView> _shards = new();

    /// <summary>What is known of <paramref name="shard"/>, or null.</summary>
    public ShardView? Of(int shard) => _shards.GetValueOrDefault(shard);

    /// <summary>Takes <paramref name="members"/> if it is newer than what is known.</summary>
    public ShardView Learn(int shard, ShardMembers members)
    {
        ArgumentNullException.ThrowIfNull(members);
        return _shards.AddOrUpdate(
            shard,
            _ => new ShardView(members, 0),
            (_, known) => members.ConfigIndex > known.Members.ConfigIndex || (members.ConfigIndex == known.Members.ConfigIndex && known.Members.Ids.Length == 0)
                ? known with { Members = members }
                : known);
    }

    public void RememberLeader(int shard, ulong leader) =>
        _shards.AddOrUpdate(shard, _ => new ShardView(new ShardMembers(0, [], [], []), leader), (_, known) => known with { Leader = leader });
}

/// <summary>A shard's members as last reported, and its last known leader (0: unknown).</summary>
public sealed record ShardView(ShardMembers Members, ulong Leader)
{
    /// <summary>The store of replica <paramref name="id"/>, or 0 when it is not a known member.</summary>
    public ulong StoreOf(ulong id)
    {
        var at = Array.IndexOf(Members.Ids, id);
        return at >= 0 ? Members.Stores[at] : 0;
    }

    /// <summary>The voters, the known leader first.</summary>
    public IReadOnlyList<ulong> Candidates =>
        [.. Members.Ids.Where((id, i) => Members.Voters[i]).OrderBy(id => id == Leader ? 0 : 1).ThenBy(id => id)];
}

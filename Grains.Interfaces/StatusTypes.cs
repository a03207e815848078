namespace ActorCluster.Grains.Interfaces;

/// <summary>The ring layout: shard count, replicas per shard and the layout's epoch.</summary>
[GenerateSerializer, Immutable, Alias("ac.RingDescriptor")]
public sealed record RingDescriptor(
    [property: Id(0)] int Shards,
    [property: Id(1)] int ReplicationFactor,
    [property: Id(2)] long Epoch);

/// <summary>
/// One replica's view of its Raft group. <see cref="LogBytes"/> is the payload of the log it holds in
/// memory, <see cref="DataBytes"/> the keys and values its state holds (what the quota bounds),
/// <see cref="SnapshotBytes"/> the size of its newest snapshot. <see cref="Silo"/> is the Orleans
/// address of the silo hosting it, <see cref="SiloName"/> the name its operator gave that silo.
/// <see cref="LeaderSince"/> is when this replica learned of the leader it knows now (for a leader,
/// when it won its election); <see cref="Matched"/>, on a leader only, is how far each of
/// <see cref="Members"/> has replicated its log (in the same order).
/// </summary>
[GenerateSerializer, Immutable, Alias("ac.ReplicaStatus")]
public sealed record ReplicaStatus(
    [property: Id(0)] int Shard,
    [property: Id(1)] ulong Replica,
    [property: Id(2)] string Silo,
    [property: Id(3)] string Role,
    [property: Id(4)] ulong Term,
    [property: Id(5)] ulong Leader,
    [property: Id(6)] ulong CommitIndex,
    [property: Id(7)] ulong AppliedIndex,
    [property: Id(8)] ulong LastIndex,
    [property: Id(9)] ulong SnapshotIndex,
    [property: Id(10)] int Keys,
    [property: Id(11)] bool LeadsByTransfer = false,
    [property: Id(12)] long LogBytes = 0,
    [property: Id(13)] long DataBytes = 0,
    [property: Id(14)] int Sessions = 0,
    [property: Id(15)] long SnapshotBytes = 0,
    [property: Id(16)] string Store = "",
    [property: Id(17)] IReadOnlyList<ulong>? Members = null,
    [property: Id(18)] IReadOnlyList<ulong>? Voters = null,
    [property: Id(19)] bool Quiesced = false,
    [property: Id(20)] string SiloName = "",
    [property: Id(21)] DateTime? LeaderSince = null,
    [property: Id(22)] IReadOnlyList<ulong>? Matched = null);

/// <summary>A shard and the replicas that answered (an unreachable replica is absent).</summary>
[GenerateSerializer, Immutable, Alias("ac.ShardStatus")]
public sealed record ShardStatus(
    [property: Id(0)] int Shard,
    [property: Id(1)] ulong Leader,
    [property: Id(2)] IReadOnlyList<ReplicaStatus> Replicas);

/// <summary>
/// The whole cluster as its ring grain sees it: the active silos' addresses, and each one's name
/// (<see cref="SiloNames"/>, by address).
/// </summary>
[GenerateSerializer, Immutable, Alias("ac.ClusterStatus")]
public sealed record ClusterStatus(
    [property: Id(0)] RingDescriptor Ring,
    [property: Id(1)] IReadOnlyList<string> Silos,
    [property: Id(2)] IReadOnlyList<ShardStatus> Shards,
    [property: Id(3)] IReadOnlyDictionary<string, string>? SiloNames = null)
{
    /// <summary>The name of the silo at <paramref name="address"/>, or the address when it has none.</summary>
    public string NameOf(string address) =>
        SiloNames is { } names && names.TryGetValue(address, out var name) && name.Length > 0 ? name : address;
}

/// <summary>
/// Where every shard's founding replicas live: replica ids 1..R of shard s are on stores
/// <c>Stores[s][0..R-1]</c>. Decided once, when the cluster first has R stores.
/// </summary>
[GenerateSerializer, Immutable, Alias("ac.RingFounders")]
public sealed record RingFounders([property: Id(0)] ulong[][] Stores);

/// <summary>
/// A shard's members as a replica knows them: the configuration's log index, each member's id,
/// store and whether it votes, and the lowest replica id the group has never used
/// (<see cref="NextId"/>; 0 when not known). Ids are never reused, so an id below it that is not a
/// member, or is a member on another store, was removed (or never added there) for good. The newest
/// committed one a leader reported is kept by the ring.
/// </summary>
[GenerateSerializer, Immutable, Alias("ac.ShardMembers")]
public sealed record ShardMembers(
    [property: Id(0)] ulong ConfigIndex,
    [property: Id(1)] ulong[] Ids,
    [property: Id(2)] ulong[] Stores,
    [property: Id(3)] bool[] Voters,
    [property: Id(4)] ulong NextId = 0)
{
    /// <summary>
    /// Whether replica <paramref name="id"/> on <paramref name="store"/> is, by this configuration,
    /// gone from the group for good: its id was used (below <see cref="NextId"/>) and it is not a
    /// member there. False when the configuration cannot tell (no <see cref="NextId"/>, or an id
    /// not used yet: a replica created for an addition that has not happened, or a member whose
    /// store is not recorded: store 0, "unknown", matches any store).
    /// </summary>
    public bool Excludes(ulong id, ulong store)
    {
        if (NextId == 0 || id >= NextId)
        {
            return false;
        }

        for (var i = 0; i < Ids.Length; i++)
        {
            if (Ids[i] == id && (Stores[i] == store || Stores[i] == 0 || store == 0))
            {
                return false;
            }
        }

        return true;
    }
}

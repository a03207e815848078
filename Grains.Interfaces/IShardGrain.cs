using Orleans.Concurrency;
using ActorCluster.Grains.Interfaces.Kv;

namespace ActorCluster.Grains.Interfaces;

/// <summary>
/// The client's entry to one shard (key: the shard number from <see cref="Ring.KeyRing"/>). It
/// finds and caches the shard's Raft leader, forwards to it, follows redirects and retries; a
/// retried write carries the same client id and sequence, so it applies once.
/// </summary>
public interface IShardGrain : IGrainWithIntegerKey
{
    /// <summary>Put, delete or compare-and-swap one key.</summary>
    Task<KvResponse> Write(WriteRequest request);

    /// <summary>Reads one key with the given consistency.</summary>
    Task<KvResponse> Read(string key, ReadConsistency consistency);

    /// <summary>
    /// Runs concurrent operations on this shard that travel together (a client's batch): answers
    /// in the order of <paramref name="operations"/>, each as <see cref="Write"/> or
    /// <see cref="Read"/> would have answered it alone. The batch goes to the leader in one call;
    /// operations it could not finish there (redirects, retries) are routed one by one.
    /// </summary>
    Task<KvResponse[]> Execute(KvOperation[] operations);

    /// <summary>The shard's replicas as they report themselves.</summary>
    Task<ShardStatus> GetStatus();
}

/// <summary>
/// The cluster's ring configuration (key: <see cref="DefaultKey"/>), durable through Orleans grain
/// persistence: shard count, replication factor and the ring epoch.
/// </summary>
public interface IRingGrain : IGrainWithStringKey
{
    const string DefaultKey = "ring";

    /// <summary>The ring every client and silo must route by.</summary>
    [AlwaysInterleave]
    Task<RingDescriptor> GetRing();

    /// <summary>
    /// Registers a store (a silo's data directory) with the cluster. Once the cluster has as many
    /// stores as the replication factor, the founders of every shard are placed over the stores
    /// registered then, once and for good; stores that come later get replicas by rebalancing.
    /// Returns the founders (null until decided).
    /// </summary>
    Task<RingFounders?> RegisterStore(ulong store, string siloName);

    /// <summary>Where every shard's founders were placed (null until decided).</summary>
    /// <remarks>Interleaves: a status query (ring -> shard -> ring) must not wait on itself.</remarks>
    [AlwaysInterleave]
    Task<RingFounders?> GetFounders();

    /// <summary>
    /// A shard's leader reports its group's newest committed configuration (as the placement
    /// driver of TiKV hears region heartbeats); the ring keeps it durably if it is newer than what it
    /// has. Routers that know no live member of a shard (every replica they knew was replaced while
    /// they were away) find the group here.
    /// </summary>
    Task ReportMembers(int shard, ShardMembers members);

    /// <summary>The newest configuration reported for <paramref name="shard"/>, else its founders; null before founders are placed.</summary>
    [AlwaysInterleave]
    Task<ShardMembers?> GetMembers(int shard);

    /// <summary>
    /// <see cref="GetMembers"/> for every shard at once, indexed by shard; null before founders are
    /// placed. Each silo's routers start from this, so that they never need the ring (which may be on
    /// a silo that has just died) to route a shard they have not served before.
    /// </summary>
    [AlwaysInterleave]
    Task<ShardMembers[]?> GetAllMembers();

    /// <summary>The stores the cluster has registered, with the silo name each registered under.</summary>
    [AlwaysInterleave]
    Task<IReadOnlyDictionary<ulong, string>> GetStores();

    /// <summary>Silos, shards, leaders, terms and commit indexes.</summary>
    [AlwaysInterleave]
    Task<ClusterStatus> GetStatus();
}

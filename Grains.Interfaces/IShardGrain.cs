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
    Task<RingDescriptor> GetRing();

    /// <summary>Activates every replica so that each shard elects a leader before traffic arrives.</summary>
    Task WakeReplicas();

    /// <summary>Silos, shards, leaders, terms and commit indexes.</summary>
    Task<ClusterStatus> GetStatus();
}

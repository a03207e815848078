namespace ActorCluster.Grains.Replicas;

/// <summary>Raft timing and log bounds of every replica (configuration section <c>ActorCluster:Raft</c>).</summary>
public sealed class ReplicaOptions
{
    public const string Section = "ActorCluster:Raft";

    /// <summary>Length of one Raft tick.</summary>
    public int TickMilliseconds { get; set; } = 50;

    /// <summary>Election timeout in ticks (randomized up to twice this).</summary>
    public int ElectionTicks { get; set; } = 10;

    /// <summary>Heartbeat interval in ticks.</summary>
    public int HeartbeatTicks { get; set; } = 2;

    /// <summary>Applied entries after which the replica snapshots its state and compacts its log.</summary>
    public int SnapshotEntries { get; set; } = 10_000;

    /// <summary>Applied log bytes after which the replica snapshots and compacts, whichever of this and <see cref="SnapshotEntries"/> comes first.</summary>
    public long SnapshotBytes { get; set; } = 64L << 20;

    /// <summary>Entries kept behind a snapshot so that slightly lagging followers need no snapshot.</summary>
    public int RetainEntries { get; set; } = 1_000;

    /// <summary>Bytes of entries kept behind a snapshot, at most (with <see cref="RetainEntries"/>, whichever keeps less).</summary>
    public long RetainBytes { get; set; } = 8L << 20;

    /// <summary>Uncommitted entries a leader holds before it pushes back on proposals.</summary>
    public int MaxUncommittedEntries { get; set; } = 16_384;

    /// <summary>Uncommitted bytes a leader holds before it pushes back on proposals.</summary>
    public long MaxUncommittedBytes { get; set; } = 64L << 20;

    /// <summary>Entries per append message.</summary>
    public int MaxEntriesPerMessage { get; set; } = 1_024;

    /// <summary>Payload bytes per append message (one entry always goes, however large).</summary>
    public int MaxAppendBytes { get; set; } = 1 << 20;

    /// <summary>Append messages in flight per follower.</summary>
    public int MaxInflightMessages { get; set; } = 64;

    /// <summary>Payload bytes of append messages in flight per follower.</summary>
    public long MaxInflightBytes { get; set; } = 16L << 20;

    /// <summary>
    /// Bytes per message when a snapshot is sent to a follower: snapshots travel in chunks of this
    /// size, each one grain call, so a shard's size is not bounded by Orleans's message size limit.
    /// </summary>
    public int SnapshotChunkBytes { get; set; } = 4 << 20;

    public TimeSpan Tick => TimeSpan.FromMilliseconds(TickMilliseconds);

    /// <summary>Throws <see cref="ArgumentException"/> naming the first invalid setting and its allowed range.</summary>
    public void Validate()
    {
        Check(TickMilliseconds, 5, 10_000, nameof(TickMilliseconds));
        Check(ElectionTicks, 3, 1_000, nameof(ElectionTicks));
        Check(HeartbeatTicks, 1, ElectionTicks - 1, nameof(HeartbeatTicks));
        Check(SnapshotEntries, 10, 100_000_000, nameof(SnapshotEntries));
        Check(RetainEntries, 0, SnapshotEntries, nameof(RetainEntries));
        Check(MaxUncommittedEntries, 16, 10_000_000, nameof(MaxUncommittedEntries));
        Check(MaxEntriesPerMessage, 1, 100_000, nameof(MaxEntriesPerMessage));
        Check(MaxInflightMessages, 1, 10_000, nameof(MaxInflightMessages));
        Check(SnapshotBytes, 1 << 16, 1L << 34, nameof(SnapshotBytes));
        Check(RetainBytes, 0, SnapshotBytes, nameof(RetainBytes));
        Check(MaxUncommittedBytes, 1 << 16, 1L << 34, nameof(MaxUncommittedBytes));
        Check(MaxAppendBytes, 1024, 64 << 20, nameof(MaxAppendBytes));
        Check(MaxInflightBytes, MaxAppendBytes, 1L << 34, nameof(MaxInflightBytes));
        Check(SnapshotChunkBytes, 4096, 64 << 20, nameof(SnapshotChunkBytes));
    }

    private static void Check(long value, long min, long max, string name)
    {
        if (value < min || value > max)
        {
            throw new ArgumentException($"{Section}:{name} must be between {min} and {max} (was {value}).");
        }
    }
}

/// <summary>The ring's shape (configuration section <c>ActorCluster:Ring</c>); fixed once a cluster has data.</summary>
public sealed class RingOptions
{
    public const string Section = "ActorCluster:Ring";

    /// <summary>Number of shards (Raft groups).</summary>
    public int Shards { get; set; } = 8;

    /// <summary>Replicas per shard.</summary>
    public int ReplicationFactor { get; set; } = 3;

    /// <summary>How long a starting silo tries to read the cluster's ring before it refuses to start.</summary>
    public int StartupCheckSeconds { get; set; } = 60;

    /// <summary>
    /// How long a store may be missing (its silo down) before its replicas are replaced on other
    /// stores. Shorter than a typical restart wastes snapshots; longer leaves shards one failure
    /// from unavailable for longer.
    /// </summary>
    public int DeadStoreGraceSeconds { get; set; } = 60;

    /// <summary>How long the set of live stores must be unchanged before replicas move toward the placement.</summary>
    public int RebalanceSettleSeconds { get; set; } = 10;

    public TimeSpan DeadStoreGrace => TimeSpan.FromSeconds(DeadStoreGraceSeconds);

    public TimeSpan RebalanceSettle => TimeSpan.FromSeconds(RebalanceSettleSeconds);

    /// <summary>Throws <see cref="ArgumentException"/> naming the first invalid setting and its allowed range.</summary>
    public void Validate()
    {
        if (Shards < 1 || Shards > Interfaces.Ring.KeyRing.MaxShards)
        {
            throw new ArgumentException($"{Section}:Shards must be between 1 and {Interfaces.Ring.KeyRing.MaxShards} (was {Shards}).");
        }

        if (ReplicationFactor is < 1 or > 7)
        {
            throw new ArgumentException($"{Section}:ReplicationFactor must be between 1 and 7 (was {ReplicationFactor}).");
        }

        if (StartupCheckSeconds is < 1 or > 3600)
        {
            throw new ArgumentException($"{Section}:StartupCheckSeconds must be between 1 and 3600 (was {StartupCheckSeconds}).");
        }

        if (DeadStoreGraceSeconds is < 1 or > 86_400)
        {
            throw new ArgumentException($"{Section}:DeadStoreGraceSeconds must be between 1 and 86400 (was {DeadStoreGraceSeconds}).");
        }

        if (RebalanceSettleSeconds is < 0 or > 3600)
        {
            throw new ArgumentException($"{Section}:RebalanceSettleSeconds must be between 0 and 3600 (was {RebalanceSettleSeconds}).");
        }
    }
}

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

    /// <summary>
    /// Leaders answer linearizable reads under a lease, without a heartbeat round, while a quorum
    /// has acknowledged a heartbeat sent less than <see cref="LeaseMilliseconds"/> ago; otherwise
    /// (and when false) every read batch takes a ReadIndex round.
    /// </summary>
    public bool LeaseReads { get; set; } = true;

    /// <summary>
    /// A leader's lease, from when the heartbeat a quorum acknowledged was sent; 0 (the default)
    /// sizes it from the other settings (<see cref="EffectiveLeaseMilliseconds"/>). Safe while
    /// <c>LeaseMilliseconds x MaxClockRateRatio &lt;= (ElectionTicks - 1) x TickMilliseconds</c>: a
    /// follower refuses campaigns for at least (ElectionTicks - 1) ticks of its own clock after
    /// hearing from the leader.
    /// </summary>
    public int LeaseMilliseconds { get; set; }

    /// <summary>
    /// The drift bound leases assume: the rate of any silo's monotonic clock is at most this many
    /// times that of any other's (1.5: one may run 50% faster than another). Not measured: an
    /// assumption, as every lease-based system makes one; the settings are refused if the lease is
    /// too long for it.
    /// </summary>
    public double MaxClockRateRatio { get; set; } = 1.5;

    /// <summary>
    /// Idle shards quiesce: once every member has everything committed and nothing is pending, the
    /// leader stops heartbeating and replicas stop ticking (every <see cref="QuiescedTickMilliseconds"/>
    /// only, for housekeeping), until a write, a read or a message wakes them. Followers of a
    /// leader whose silo stops answering store liveness pulses are woken to elect a new one.
    /// On by default; false keeps every group ticking and heartbeating while idle.
    /// </summary>
    public bool Quiesce { get; set; } = true;

    /// <summary>How often a quiesced replica's timer still fires (placement checks, keeping the activation).</summary>
    public int QuiescedTickMilliseconds { get; set; } = 2_000;

    /// <summary>Store liveness: how often each silo pulses every other store's silo (one call per silo pair).</summary>
    public int PulseMilliseconds { get; set; } = 200;

    /// <summary>Store liveness: a store whose silo has not answered a pulse for this long is suspected.</summary>
    public int SuspectMilliseconds { get; set; } = 600;

    public TimeSpan Tick => TimeSpan.FromMilliseconds(TickMilliseconds);

    /// <summary>The longest lease the drift bound allows: (ElectionTicks - 1) ticks divided by <see cref="MaxClockRateRatio"/>.</summary>
    public long LongestSafeLeaseMilliseconds => (long)Math.Floor((ElectionTicks - 1) * (long)TickMilliseconds / MaxClockRateRatio);

    /// <summary>
    /// The lease in use: <see cref="LeaseMilliseconds"/>, or when that is 0, five sixths of the
    /// longest safe lease (250 ms with the defaults), leaving room for timer slack.
    /// </summary>
    public long EffectiveLeaseMilliseconds => LeaseMilliseconds > 0 ? LeaseMilliseconds : Math.Max(1, LongestSafeLeaseMilliseconds * 5 / 6);

    /// <summary>The lease in <see cref="System.Diagnostics.Stopwatch"/> ticks, or 0 when leases are off.</summary>
    public long LeaseStopwatchTicks => LeaseReads ? EffectiveLeaseMilliseconds * System.Diagnostics.Stopwatch.Frequency / 1000 : 0;

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
        Check(QuiescedTickMilliseconds, TickMilliseconds, 60_000, nameof(QuiescedTickMilliseconds));
        Check(PulseMilliseconds, 10, 10_000, nameof(PulseMilliseconds));
        Check(SuspectMilliseconds, 2L * PulseMilliseconds, 60_000, nameof(SuspectMilliseconds));
        if (double.IsNaN(MaxClockRateRatio) || MaxClockRateRatio < 1 || MaxClockRateRatio > 10)
        {
            throw new ArgumentException($"{Section}:{nameof(MaxClockRateRatio)} must be between 1 and 10 (was {MaxClockRateRatio}).");
        }

        if (LeaseReads && LeaseMilliseconds != 0)
        {
            // The lease must end, on the slowest leader clock allowed, before the stickiness of a
            // follower with the fastest clock does.
            Check(LeaseMilliseconds, 1, LongestSafeLeaseMilliseconds, nameof(LeaseMilliseconds) + $" (0: automatic; at most (ElectionTicks - 1) x TickMilliseconds / MaxClockRateRatio = {(ElectionTicks - 1) * TickMilliseconds} / {MaxClockRateRatio})");
        }
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

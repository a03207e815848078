using System.Collections.Concurrent;
using System.Diagnostics.Metrics;

namespace ActorCluster.Grains.Replicas;

/// <summary>
/// The replicas' OpenTelemetry instruments (meter <c>ActorCluster.Raft</c>). The instruments an
/// operator alerts on per shard carry a <see cref="ShardTag"/> when the ring is no larger than
/// <see cref="TelemetryOptions.ShardMetricsUpTo"/>; beyond that they are per silo, so that the
/// number of time series stays bounded whatever the ring's size.
/// </summary>
public static class ReplicaMetrics
{
    public const string MeterName = "ActorCluster.Raft";

    /// <summary>The tag naming a shard, on the instruments that are per shard.</summary>
    public const string ShardTag = "shard";

    private static readonly Meter Meter = new(MeterName);

    private static readonly ConcurrentDictionary<ReplicaGauges, byte> Silos = new();

    public static readonly Counter<long> Proposals = Meter.CreateCounter<long>("actorcluster.raft.proposals", description: "Writes proposed by leaders (tag shard)");

    public static readonly Counter<long> Applied = Meter.CreateCounter<long>("actorcluster.raft.applied", description: "Committed entries applied (tag shard)");

    public static readonly Counter<long> LeaderChanges = Meter.CreateCounter<long>("actorcluster.raft.leader_changes", description: "Replicas that became leader (tag shard)");

    public static readonly Counter<long> QuorumLost = Meter.CreateCounter<long>("actorcluster.raft.quorum_lost", description: "Leaders that stepped down because a quorum of their voters stopped answering (tag shard)");

    public static readonly Histogram<double> CommitLatency = Meter.CreateHistogram(
        "actorcluster.raft.commit_latency",
        unit: "s",
        description: "From a leader's proposal of a write to its answer: replicated to a quorum, committed and applied (tag shard)",
        advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = LatencyBuckets });

    public static readonly Histogram<double> StoreSyncLatency = Meter.CreateHistogram(
        "actorcluster.store.sync_latency",
        unit: "s",
        description: "One group commit of the silo's replica store: a transaction of many replicas' writes, synced to disk",
        advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = LatencyBuckets });

    public static readonly Counter<long> MembershipChanges = Meter.CreateCounter<long>("actorcluster.raft.membership_changes", description: "Membership changes a leader proposed (tag kind: add, promote, remove)");

    public static readonly Counter<long> LeadershipTransfers = Meter.CreateCounter<long>("actorcluster.raft.leadership_transfers", description: "Leadership transfers a leader started (tag reason: balance, placement, stop)");

    public static readonly Counter<long> LeaseReads = Meter.CreateCounter<long>("actorcluster.raft.lease_reads", description: "Linearizable reads a leader answered under its lease, without a round");

    public static readonly Counter<long> MessageBatches = Meter.CreateCounter<long>("actorcluster.raft.message_batches", description: "Raft message batches sent to peers (one one-way grain call each; tag store: the sender's)");

    public static readonly Counter<long> ReadRounds = Meter.CreateCounter<long>("actorcluster.raft.read_index_rounds", description: "ReadIndex rounds (each confirms leadership for a batch of reads)");

    public static readonly Counter<long> SnapshotsTaken = Meter.CreateCounter<long>("actorcluster.raft.snapshots_taken", description: "Snapshots taken, each followed by log compaction");

    public static readonly Counter<long> SnapshotsSent = Meter.CreateCounter<long>("actorcluster.raft.snapshots_sent", description: "Snapshots sent to followers, all their chunks taken (tag shard)");

    public static readonly Counter<long> SnapshotChunksSent = Meter.CreateCounter<long>("actorcluster.raft.snapshot_chunks_sent", description: "Snapshot chunks sent to followers (one grain call each)");

    public static readonly Counter<long> SnapshotsInstalled = Meter.CreateCounter<long>("actorcluster.raft.snapshots_installed", description: "Snapshots received from a leader and installed (tag shard)");

    public static readonly Counter<long> StoreWritesRefused = Meter.CreateCounter<long>("actorcluster.store.writes_refused", description: "Replica writes the store refused because its disk had less free space than the reserve");

    public static readonly Counter<long> StoreWritesFailed = Meter.CreateCounter<long>("actorcluster.store.writes_failed", description: "Replica writes that failed in the store's database");

    /// <summary>Local replicas whose log has commits not yet applied: the largest gap, in entries (tag shard).</summary>
    public static readonly ObservableGauge<long> ApplyLag = Meter.CreateObservableGauge("actorcluster.raft.apply_lag", () => Observe(g => g.ApplyLag, max: true), unit: "{entry}", description: "Committed entries a local replica has not applied yet, the largest (tag shard)");

    /// <summary>On leaders: entries the slowest voter has yet to store.</summary>
    public static readonly ObservableGauge<long> VoterLag = Meter.CreateObservableGauge("actorcluster.raft.voter_lag", () => Observe(g => g.VoterLag, max: true, leadersOnly: true), unit: "{entry}", description: "Entries of a leader's log its slowest voter has not stored, the largest (tag shard)");

    public static readonly ObservableGauge<long> PendingWrites = Meter.CreateObservableGauge("actorcluster.raft.pending_writes", () => Observe(g => g.PendingWrites), unit: "{write}", description: "Writes proposed by local leaders and not yet answered (tag shard)");

    public static readonly ObservableGauge<long> PendingReads = Meter.CreateObservableGauge("actorcluster.raft.pending_reads", () => Observe(g => g.PendingReads), unit: "{read}", description: "Linearizable reads waiting for a ReadIndex round or for their index to apply (tag shard)");

    public static readonly ObservableGauge<long> WithoutLeader = Meter.CreateObservableGauge("actorcluster.raft.replicas_without_leader", () => Observe(g => g.LeaderKnown ? 0 : 1), unit: "{replica}", description: "Local replicas that know no leader: elections under way, or a group without a quorum (tag shard)");

    public static readonly ObservableGauge<long> Leaders = Meter.CreateObservableGauge("actorcluster.raft.leaders", () => Observe(g => g.IsLeader ? 1 : 0, perShard: false), unit: "{replica}", description: "Local replicas that lead their shard");

    /// <summary>Commit and sync latencies in seconds: 0.25 ms to 10 s.</summary>
    private static IReadOnlyList<double> LatencyBuckets => [0.00025, 0.0005, 0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128, 0.256, 0.512, 1, 2, 5, 10];

    /// <summary>The tags a replica of shard <paramref name="shard"/> puts on its per-shard instruments.</summary>
    public static KeyValuePair<string, object?>[] ShardTags(int shard, bool tagged) => tagged ? [new(ShardTag, shard)] : [];

    internal static void Add(ReplicaGauges silo) => Silos[silo] = 0;

    internal static void Remove(ReplicaGauges silo) => Silos.TryRemove(silo, out _);

    /// <summary>
    /// One measurement per shard for the tagged replicas (their sum, or the largest value), and
    /// one without tags for the rest. A silo holds one replica of a shard, but a test process runs
    /// several silos, whose replicas of one shard are combined the same way.
    /// </summary>
    private static IEnumerable<Measurement<long>> Observe(Func<ReplicaGauge, long> value, bool max = false, bool leadersOnly = false, bool perShard = true)
    {
        var byShard = new Dictionary<int, long>();
        long? untagged = null;
        foreach (var gauge in Silos.Keys.SelectMany(silo => silo.Replicas))
        {
            if (leadersOnly && !gauge.IsLeader)
            {
                continue;
            }

            var v = value(gauge);
            if (perShard && gauge.Tagged)
            {
                byShard[gauge.Shard] = byShard.TryGetValue(gauge.Shard, out var seen) ? (max ? Math.Max(seen, v) : seen + v) : v;
            }
            else
            {
                untagged = untagged is { } u ? (max ? Math.Max(u, v) : u + v) : v;
            }
        }

        foreach (var (shard, v) in byShard)
        {
            yield return new Measurement<long>(v, new KeyValuePair<string, object?>(ShardTag, shard));
        }

        if (untagged is { } total)
        {
            yield return new Measurement<long>(total);
        }
    }
}

/// <summary>
/// What one replica publishes for the gauges, written by the replica (one thread at a time) and
/// read by the metrics collector; each field is read and written whole.
/// </summary>
public sealed class ReplicaGauge : IDisposable
{
    private long _applyLag;
    private long _voterLag;
    private long _pendingWrites;
    private long _pendingReads;
    private int _flags;

    internal ReplicaGauge(int shard, bool tagged)
    {
        Shard = shard;
        Tagged = tagged;
    }

    public int Shard { get; }

    public bool Tagged { get; }

    public long ApplyLag => Volatile.Read(ref _applyLag);

    public long VoterLag => Volatile.Read(ref _voterLag);

    public long PendingWrites => Volatile.Read(ref _pendingWrites);

    public long PendingReads => Volatile.Read(ref _pendingReads);

    public bool LeaderKnown => (Volatile.Read(ref _flags) & 1) != 0;

    public bool IsLeader => (Volatile.Read(ref _flags) & 2) != 0;

    public void Update(ulong applyLag, ulong voterLag, int pendingWrites, int pendingReads, bool leaderKnown, bool isLeader)
    {
        Volatile.Write(ref _applyLag, (long)Math.Min(applyLag, long.MaxValue));
        Volatile.Write(ref _voterLag, (long)Math.Min(voterLag, long.MaxValue));
        Volatile.Write(ref _pendingWrites, pendingWrites);
        Volatile.Write(ref _pendingReads, pendingReads);
        Volatile.Write(ref _flags, (leaderKnown ? 1 : 0) | (isLeader ? 2 : 0));
    }

    internal ReplicaGauges? Owner { get; init; }

    public void Dispose() => Owner?.Untrack(this);
}

/// <summary>
/// The gauges of one silo's replicas. A silo's service (disposed with the silo): the replicas of a
/// silo that stopped without deactivating them (killed within a process that hosts several, as
/// tests do) stop counting with it.
/// </summary>
public sealed class ReplicaGauges : IDisposable
{
    private readonly ConcurrentDictionary<ReplicaGauge, byte> _replicas = new();

    public ReplicaGauges() => ReplicaMetrics.Add(this);

    internal IEnumerable<ReplicaGauge> Replicas => _replicas.Keys;

    /// <summary>Starts reporting a replica's gauges; dispose of the answer when the replica stops.</summary>
    public ReplicaGauge Track(int shard, bool tagged)
    {
        var gauge = new ReplicaGauge(shard, tagged) { Owner = this };
        _replicas[gauge] = 0;
        return gauge;
    }

    internal void Untrack(ReplicaGauge gauge) => _replicas.TryRemove(gauge, out _);

    public void Dispose()
    {
        ReplicaMetrics.Remove(this);
        _replicas.Clear();
    }
}

using System.Diagnostics.Metrics;

namespace ActorCluster.Grains.Replicas;

/// <summary>The replicas' OpenTelemetry instruments (meter <c>ActorCluster.Raft</c>).</summary>
public static class ReplicaMetrics
{
    public const string MeterName = "ActorCluster.Raft";

    private static readonly Meter Meter = new(MeterName);

    public static readonly Counter<long> Proposals = Meter.CreateCounter<long>("actorcluster.raft.proposals", description: "Writes proposed by leaders");

    public static readonly Counter<long> Applied = Meter.CreateCounter<long>("actorcluster.raft.applied", description: "Committed entries applied");

    public static readonly Counter<long> LeaderChanges = Meter.CreateCounter<long>("actorcluster.raft.leader_changes", description: "Replicas that became leader");

    public static readonly Counter<long> MembershipChanges = Meter.CreateCounter<long>("actorcluster.raft.membership_changes", description: "Membership changes a leader proposed (tag kind: add, promote, remove)");

    public static readonly Counter<long> LeadershipTransfers = Meter.CreateCounter<long>("actorcluster.raft.leadership_transfers", description: "Leadership transfers a leader started (tag reason: balance, placement, stop)");

    public static readonly Counter<long> LeaseReads = Meter.CreateCounter<long>("actorcluster.raft.lease_reads", description: "Linearizable reads a leader answered under its lease, without a round");

    public static readonly Counter<long> MessageBatches = Meter.CreateCounter<long>("actorcluster.raft.message_batches", description: "Raft message batches sent to peers (one one-way grain call each; tag store: the sender's)");

    public static readonly Counter<long> ReadRounds = Meter.CreateCounter<long>("actorcluster.raft.read_index_rounds", description: "ReadIndex rounds (each confirms leadership for a batch of reads)");

    public static readonly Counter<long> SnapshotsTaken = Meter.CreateCounter<long>("actorcluster.raft.snapshots_taken", description: "Snapshots taken, each followed by log compaction");

    public static readonly Counter<long> SnapshotsSent = Meter.CreateCounter<long>("actorcluster.raft.snapshots_sent", description: "Snapshots sent to followers, all their chunks taken");

    public static readonly Counter<long> SnapshotChunksSent = Meter.CreateCounter<long>("actorcluster.raft.snapshot_chunks_sent", description: "Snapshot chunks sent to followers (one grain call each)");

    public static readonly Counter<long> SnapshotsInstalled = Meter.CreateCounter<long>("actorcluster.raft.snapshots_installed", description: "Snapshots received from a leader and installed");

    public static readonly Counter<long> StoreWritesRefused = Meter.CreateCounter<long>("actorcluster.store.writes_refused", description: "Replica writes the store refused because its disk had less free space than the reserve");

    public static readonly Counter<long> StoreWritesFailed = Meter.CreateCounter<long>("actorcluster.store.writes_failed", description: "Replica writes that failed in the store's database");
}

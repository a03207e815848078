using Orleans.Concurrency;
using ActorCluster.Grains.Interfaces;
using ActorCluster.Grains.Interfaces.Kv;

namespace ActorCluster.Grains.Replicas;

/// <summary>
/// One replica of a shard's Raft group (key: <c>{shard}/{slot}</c>, slot 1..R, which is also its
/// Raft node id). Raft traffic between replicas is one-way: a replica never awaits a peer inside
/// a turn, so two replicas can never wait on each other.
/// </summary>
public interface IRaftReplicaGrain : IGrainWithStringKey
{
    /// <summary>Raft messages from one peer, batched.</summary>
    [OneWay]
    Task Deliver(RaftEnvelope envelope);

    /// <summary>
    /// One chunk of a snapshot the leader sends (InstallSnapshot, §7, in bounded pieces). False when
    /// the chunk was not taken (stopped replica, malformed chunk): the leader gives up this
    /// transfer and starts again later.
    /// </summary>
    Task<bool> InstallSnapshotChunk(SnapshotChunk chunk);

    /// <summary>Replicates a write; answers once it is committed and applied, or redirects.</summary>
    Task<ReplicaReply> Propose(WriteRequest request);

    /// <summary>Reads a key: linearizable reads only on the leader, stale reads anywhere.</summary>
    Task<ReplicaReply> Read(string key, ReadConsistency consistency);

    /// <summary>This replica's Raft state.</summary>
    Task<ReplicaStatus> GetStatus();

    /// <summary>Does nothing but make sure the replica is active.</summary>
    Task Wake();

    /// <summary>Asks this replica, if it leads, to hand leadership to <paramref name="slot"/>.</summary>
    Task<bool> TransferLeadership(int slot);

    /// <summary>
    /// The silo is stopping: with <paramref name="handOver"/> a leader first hands leadership to
    /// its most up-to-date follower and waits (briefly) for the hand-over; then the replica stops
    /// sending and answering.
    /// </summary>
    Task PrepareToStop(bool handOver);
}

/// <summary>Raft traffic between replicas, naming the sending silo so that fault injection can drop it.</summary>
public interface IRaftTraffic
{
    /// <summary>The sending silo's endpoint ("host:port").</summary>
    string? SenderSilo { get; }
}

/// <summary>
/// A batch of encoded Raft messages (see <see cref="RaftWireCodec"/>), with the endpoint of the
/// sending silo so that fault injection can drop traffic between chosen silos.
/// </summary>
[GenerateSerializer, Immutable, Alias("ac.RaftEnvelope")]
public sealed record RaftEnvelope([property: Id(0)] byte[] Payload, [property: Id(1)] string? SenderSilo = null) : IRaftTraffic;

/// <summary>
/// One piece of a snapshot on its way to a follower. A transfer is the chunks
/// 0..<see cref="ChunkCount"/>-1 with one <see cref="TransferId"/>, chunk i holding the bytes from
/// i * <see cref="ChunkBytes"/>; each carries the snapshot's position in the log and its
/// configuration, so that any chunk can start the assembly.
/// </summary>
[GenerateSerializer, Immutable, Alias("ac.SnapshotChunk")]
public sealed record SnapshotChunk(
    [property: Id(0)] string? SenderSilo,
    [property: Id(1)] ulong TransferId,
    [property: Id(2)] ulong From,
    [property: Id(3)] ulong To,
    [property: Id(4)] ulong Term,
    [property: Id(5)] ulong SnapshotIndex,
    [property: Id(6)] ulong SnapshotTerm,
    [property: Id(7)] byte[] Config,
    [property: Id(8)] long TotalBytes,
    [property: Id(9)] int ChunkIndex,
    [property: Id(10)] int ChunkCount,
    [property: Id(11)] byte[] Data,
    [property: Id(12)] int ChunkBytes) : IRaftTraffic
{
    /// <summary>True when the chunk's numbers agree with each other (it may still belong to another transfer).</summary>
    public bool IsWellFormed =>
        ChunkBytes > 0 && TotalBytes >= 0 && TotalBytes <= Array.MaxLength
        && ChunkCount == Math.Max(1, (TotalBytes + ChunkBytes - 1) / ChunkBytes)
        && ChunkIndex >= 0 && ChunkIndex < ChunkCount
        && Data.Length == Math.Min(ChunkBytes, TotalBytes - ((long)ChunkIndex * ChunkBytes));
}

/// <summary>How a replica answered a client operation.</summary>
public enum ReplicaOutcome : byte
{
    /// <summary>Done: see the response.</summary>
    Done = 0,

    /// <summary>Not the leader; <see cref="ReplicaReply.LeaderSlot"/> names the leader if known (0 if not).</summary>
    NotLeader = 1,

    /// <summary>Leadership changed or the leader is busy while the operation was in flight; retry it (writes are deduplicated).</summary>
    Retry = 2,
}

/// <summary>A replica's answer to a client operation.</summary>
[GenerateSerializer, Immutable, Alias("ac.ReplicaReply")]
public sealed record ReplicaReply(
    [property: Id(0)] ReplicaOutcome Outcome,
    [property: Id(1)] int LeaderSlot,
    [property: Id(2)] KvResponse? Response,
    [property: Id(3)] string? Reason = null)
{
    public static ReplicaReply Done(KvResponse response) => new(ReplicaOutcome.Done, 0, response);

    public static ReplicaReply NotLeader(int leaderSlot) => new(ReplicaOutcome.NotLeader, leaderSlot, null);

    public static ReplicaReply Retry(string reason) => new(ReplicaOutcome.Retry, 0, null, reason);
}

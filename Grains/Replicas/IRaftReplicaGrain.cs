using Orleans.Concurrency;
using ActorCluster.Grains.Interfaces;
using ActorCluster.Grains.Interfaces.Kv;

namespace ActorCluster.Grains.Replicas;

/// <summary>
/// One replica of a shard's Raft group (key: <c>{shard}/{replica id}@{store}</c>, see
/// <see cref="ReplicaId"/>). The replica id is its Raft node id, unique within the shard for all
/// time; the store is the silo's disk that holds it, and the replica activates on that store's silo
/// and nowhere else. Raft traffic between replicas is one-way: a replica never awaits a peer inside
/// a turn, so two replicas can never wait on each other.
/// </summary>
public interface IRaftReplicaGrain : IGrainWithStringKey
{
    /// <summary>
    /// Creates this replica on its store as an empty learner, before the leader adds it to the
    /// group (a replica never creates itself: finding no state, it stays silent). True when the
    /// replica now exists (created now or before); false when its id was removed here before.
    /// </summary>
    Task<bool> Create();

    /// <summary>Raft messages from one peer, batched.</summary>
    [OneWay]
    Task Deliver(RaftEnvelope envelope);

    /// <summary>
    /// Store liveness suspects <paramref name="store"/>, or heard it again from a new incarnation
    /// of its silo (a restart: whatever its replicas held in memory is gone). A quiesced follower
    /// whose leader lives there wakes and counts its election timeout from when it last heard from
    /// that leader; a quiesced leader with a member there wakes, so that it sees again which of its
    /// members answer (a restarted member may have lost its state, and a quiesced leader's view of
    /// its members is frozen).
    /// </summary>
    [OneWay]
    Task StoreSuspected(ulong store);

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

    /// <summary>
    /// <see cref="Propose"/> and <see cref="Read"/> for a batch, answered in its order. The writes
    /// are proposed in one turn, so they share a log append, a sync and a replication round; the
    /// linearizable reads share one ReadIndex round (or the lease).
    /// </summary>
    Task<ReplicaReply[]> Execute(KvOperation[] operations);

    /// <summary>This replica's Raft state.</summary>
    Task<ReplicaStatus> GetStatus();

    /// <summary>Does nothing but make sure the replica is active.</summary>
    Task Wake();

    /// <summary>
    /// The shard's leader says this replica's removal is committed (a removed replica may never
    /// hear it from the log: the leader stops sending to it): it deletes its state and leaves a
    /// tombstone. Ids are never reused, so this can never remove a current member.
    /// </summary>
    Task Removed();

    /// <summary>Asks this replica, if it leads, to hand leadership to replica <paramref name="replica"/>.</summary>
    Task<bool> TransferLeadership(ulong replica);

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
/// sending silo so that fault injection can drop traffic between chosen silos, and the sender's
/// store, so that a new replica that does not know its group's configuration yet can answer. When
/// the batch carries entries of a traced write, <see cref="TraceParent"/> (W3C) names the leader's
/// span, and the follower's span joins the write's trace.
/// </summary>
[GenerateSerializer, Immutable, Alias("ac.RaftEnvelope")]
public sealed record RaftEnvelope([property: Id(0)] byte[] Payload, [property: Id(1)] string? SenderSilo = null, [property: Id(2)] ulong SenderStore = 0, [property: Id(3)] string? TraceParent = null) : IRaftTraffic;

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
    [property: Id(12)] int ChunkBytes,
    [property: Id(13)] ulong SenderStore = 0) : IRaftTraffic
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

    /// <summary>Not the leader; <see cref="ReplicaReply.Leader"/> names the leader if known (0 if not).</summary>
    NotLeader = 1,

    /// <summary>Leadership changed or the leader is busy while the operation was in flight; retry it (writes are deduplicated).</summary>
    Retry = 2,
}

/// <summary>
/// A replica's answer to a client operation. Redirects and retries carry the replica's view of
/// its group (<see cref="Members"/>), so a router learns new replicas and the leader from answers.
/// </summary>
[GenerateSerializer, Immutable, Alias("ac.ReplicaReply")]
public sealed record ReplicaReply(
    [property: Id(0)] ReplicaOutcome Outcome,
    [property: Id(1)] ulong Leader,
    [property: Id(2)] KvResponse? Response,
    [property: Id(3)] string? Reason = null,
    [property: Id(4)] ShardMembers? Members = null)
{
    public static ReplicaReply Done(KvResponse response, ShardMembers? members = null) => new(ReplicaOutcome.Done, 0, response, null, members);

    public static ReplicaReply NotLeader(ulong leader, ShardMembers? members = null) => new(ReplicaOutcome.NotLeader, leader, null, null, members);

    public static ReplicaReply Retry(string reason, ShardMembers? members = null) => new(ReplicaOutcome.Retry, 0, null, reason, members);
}

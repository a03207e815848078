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

/// <summary>
/// A batch of encoded Raft messages (see <see cref="RaftWireCodec"/>), with the endpoint of the
/// sending silo so that fault injection can drop traffic between chosen silos.
/// </summary>
[GenerateSerializer, Immutable, Alias("ac.RaftEnvelope")]
public sealed record RaftEnvelope([property: Id(0)] byte[] Payload, [property: Id(1)] string? SenderSilo = null);

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

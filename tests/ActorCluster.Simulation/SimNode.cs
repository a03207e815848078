using System.Buffers.Binary;
using ActorCluster.Grains.Raft;

namespace ActorCluster.Simulation;

/// <summary>
/// One simulated server: a Raft core while it is up, the disk that outlives it, and a state
/// machine that folds applied commands into a hash chain (so "same applied sequence" is one compare).
/// </summary>
internal sealed class SimNode(ulong id)
{
    public ulong Id { get; } = id;

    public RaftNode? Raft { get; set; }

    public SimDisk Disk { get; set; } = new();

    /// <summary>
    /// Its disk was lost. A replica that finds no state for an id its group still names never votes
    /// or acknowledges: it stays down until the group removes it (and adds a new id in its place).
    /// </summary>
    public bool Lost { get; set; }

    /// <summary>Bumped on every crash so that stale timers and disk completions are ignored.</summary>
    public int Incarnation { get; set; }

    /// <summary>A ready whose write is in flight (asynchronous disk).</summary>
    public Ready? Persisting { get; set; }

    /// <summary>Messages of the ready in flight already sent before its write.</summary>
    public HashSet<Message> SentEarly { get; } = new(ReferenceEqualityComparer.Instance);

    /// <summary>Removed from the configuration and shut down for good.</summary>
    public bool Decommissioned { get; set; }

    public ulong AppliedIndex { get; set; }

    public ulong AppliedHash { get; set; }

    /// <summary>Commit index seen at the last check, for the monotonicity invariant.</summary>
    public ulong SeenCommit { get; set; }

    /// <summary>The read context this node's driver waits for (serial reads), or 0.</summary>
    public ulong ReadInFlight { get; set; }

    /// <summary>The term in which <see cref="ReadInFlight"/> was requested.</summary>
    public ulong ReadTerm { get; set; }

    public bool IsUp => Raft is not null;

    public byte[] EncodeStateMachine()
    {
        var data = new byte[16];
        BinaryPrimitives.WriteUInt64LittleEndian(data, AppliedIndex);
        BinaryPrimitives.WriteUInt64LittleEndian(data.AsSpan(8), AppliedHash);
        return data;
    }

    public void RestoreStateMachine(Snapshot snapshot)
    {
        AppliedIndex = snapshot.Index;
        AppliedHash = snapshot.Data.Length == 16 ? BinaryPrimitives.ReadUInt64LittleEndian(snapshot.Data.AsSpan(8)) : 0;
    }
}

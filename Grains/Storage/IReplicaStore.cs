using ActorCluster.Grains.Raft;

namespace ActorCluster.Grains.Storage;

/// <summary>
/// Durable state of Raft replicas: hard state, log entries and the latest snapshot, one record
/// per replica. Every write is fenced by the epoch of the activation that claimed the replica, so a
/// duplicate activation left behind by membership churn can never write again.
/// </summary>
/// <remarks>
/// Thread-safe. A replica has at most one ready's write outstanding at a time (the ready loop awaits
/// each), which keeps those in order; a snapshot it took of its own state may be saved alongside.
/// A saved snapshot older than the one already stored is dropped, so the stored snapshot only moves
/// forward whatever order the two finish in.
/// </remarks>
public interface IReplicaStore
{
    /// <summary>Claims <paramref name="replicaId"/> for a new activation, fencing off every earlier claim.</summary>
    Task<ReplicaClaim> ClaimAsync(string replicaId, CancellationToken cancellationToken = default);

    /// <summary>Reads what the replica persisted.</summary>
    /// <exception cref="ReplicaFencedException">A newer activation claimed the replica.</exception>
    Task<RaftStorageState> LoadAsync(ReplicaClaim claim, CancellationToken cancellationToken = default);

    /// <summary>Creates a replica here: a founder with its bootstrap configuration, or (null) an empty learner. False if the id was created here before.</summary>
    Task<bool> CreateReplicaAsync(string replicaId, ClusterConfig? founders, CancellationToken cancellationToken = default);

    /// <summary>Records that the replica has stored state.</summary>
    Task MarkInitializedAsync(string replicaId, CancellationToken cancellationToken = default);

    /// <summary>Deletes a removed replica's state and keeps its id as removed for good.</summary>
    Task TombstoneAsync(ReplicaClaim claim, CancellationToken cancellationToken = default);

    /// <summary>What this store knows of a replica id.</summary>
    Task<ReplicaPresence> FindReplicaAsync(string replicaId, CancellationToken cancellationToken = default);

    /// <summary>The live replicas this store holds.</summary>
    Task<IReadOnlyList<string>> ListReplicasAsync(CancellationToken cancellationToken = default);

    /// <summary>Persists one write atomically and durably (committed and synced before the task completes).</summary>
    /// <exception cref="ReplicaFencedException">A newer activation claimed the replica; nothing was written.</exception>
    Task SaveAsync(ReplicaClaim claim, ReplicaWrite write, CancellationToken cancellationToken = default);
}

/// <summary>An activation's claim on a replica; its epoch fences the activation's writes.</summary>
public sealed record ReplicaClaim(string ReplicaId, long Epoch);

/// <summary>
/// One atomic write, in the order of the Raft ready contract: the snapshot (which, when it came
/// from the leader, replaces the whole log), then the entries (which replace any stored entries from
/// their first index on), then the hard state; finally entries through <see cref="CompactThrough"/>
/// are dropped.
/// </summary>
/// <param name="HardState">The hard state to store, if it changed.</param>
/// <param name="Entries">Entries to append, replacing stored ones from the first index on when <paramref name="MayOverwrite"/>.</param>
/// <param name="Snapshot">A snapshot to store.</param>
/// <param name="SnapshotReplacesLog">True for a snapshot from the leader (drop every entry), false for a local one (drop the entries it covers).</param>
/// <param name="CompactThrough">Drop entries up to this index (0: none).</param>
/// <param name="MayOverwrite">
/// False when the writer knows that nothing is stored at or after the first entry's index (the
/// common append), which spares the store a delete; true (the safe default) otherwise.
/// </param>
public sealed record ReplicaWrite(
    HardState? HardState,
    Entry[] Entries,
    Snapshot? Snapshot = null,
    bool SnapshotReplacesLog = false,
    ulong CompactThrough = 0,
    bool MayOverwrite = true)
{
    /// <summary>True when there is nothing to write.</summary>
    public bool IsEmpty => HardState is null && Entries.Length == 0 && Snapshot is null && CompactThrough == 0;
}

/// <summary>A newer activation of the replica has claimed it; this one must stop without answering.</summary>
public sealed class ReplicaFencedException : Exception
{
    public ReplicaFencedException()
    {
    }

    public ReplicaFencedException(string message)
        : base(message)
    {
    }

    public ReplicaFencedException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}

namespace ActorCluster.Grains.Raft;

/// <summary>
/// What a node finds on stable storage when it starts: everything earlier readies told the
/// driver to persist. An empty state is a node that has never run (it joins an existing group).
/// </summary>
/// <param name="HardState">The last persisted hard state.</param>
/// <param name="Snapshot">The last persisted snapshot, if any.</param>
/// <param name="Entries">The persisted entries after the snapshot, contiguous, in index order.</param>
/// <param name="Applied">
/// The highest index the state machine has already applied (at least the snapshot's index when
/// the state machine was restored from it); entries after it are handed out again.
/// </param>
public sealed record RaftStorageState(HardState HardState, Snapshot? Snapshot, IReadOnlyList<Entry> Entries, ulong Applied)
{
    /// <summary>Storage of a node that has never run.</summary>
    public static readonly RaftStorageState Empty = new(default, null, [], 0);
}

namespace ActorCluster.Grains.Raft;

/// <summary>
/// The output of a <see cref="RaftNode"/>: what must be persisted, sent and applied.
/// </summary>
/// <remarks>
/// The driver handles a ready in this order, then calls <see cref="RaftNode.Advance"/>:
/// <list type="number">
/// <item>If <see cref="Snapshot"/> is set, persist it and delete every stored entry.</item>
/// <item>Persist <see cref="Entries"/>: first delete stored entries with index &gt;=
/// <c>Entries[0].Index</c>, then append. Persist <see cref="HardState"/> if set.
/// This must be durable (fsync) before step 3 when <see cref="MustSync"/> is true.</item>
/// <item>Send <see cref="Messages"/>.</item>
/// <item>Restore the state machine from <see cref="Snapshot"/> if set, then apply
/// <see cref="CommittedEntries"/> in order.</item>
/// </list>
/// Between <see cref="RaftNode.GetReady"/> and <see cref="RaftNode.Advance"/> the node may be ticked
/// and stepped (a driver that persists asynchronously does so); it may not hand out another ready.
/// </remarks>
public sealed class Ready
{
    /// <summary>The hard state to persist, when it changed since the last ready.</summary>
    public HardState? HardState { get; init; }

    /// <summary>Entries to persist, in index order (may overwrite a stored suffix).</summary>
    public Entry[] Entries { get; init; } = [];

    /// <summary>A snapshot received from the leader, to persist and restore.</summary>
    public Snapshot? Snapshot { get; init; }

    /// <summary>Messages to send after persisting. Invariant: none depends on unpersisted state.</summary>
    public IReadOnlyList<Message> Messages { get; init; } = [];

    /// <summary>Committed entries to apply, in order. Invariant: each index is applied once per incarnation.</summary>
    public Entry[] CommittedEntries { get; init; } = [];

    /// <summary>Completed ReadIndex requests.</summary>
    public IReadOnlyList<ReadState> ReadStates { get; init; } = [];

    /// <summary>The leader and role, when they changed since the last ready.</summary>
    public SoftState? SoftState { get; init; }

    /// <summary>True when the entries or hard state must reach stable storage before sending.</summary>
    public bool MustSync => HardState is not null || Entries.Length > 0 || Snapshot is not null;

    /// <summary>
    /// True when <paramref name="message"/> may be sent before this ready is persisted (thesis
    /// §10.2.1: the leader writes its log in parallel with replicating it). That holds for what a
    /// leader sends to followers — appends, heartbeats, snapshots, TimeoutNow — as long as this
    /// ready does not change the term or vote: the leader counts its own entries toward a quorum
    /// only once they are durable, so nothing is acknowledged that could be lost. Votes and every
    /// answer (which promise what this node stored) always wait for the write.
    /// </summary>
    public bool MaySendBeforePersisting(Message message, HardState persisted)
    {
        ArgumentNullException.ThrowIfNull(message);
        var termOrVoteChanges = HardState is { } next && (next.Term != persisted.Term || next.Vote != persisted.Vote);
        return !termOrVoteChanges && Snapshot is null
            && message.Type is MessageType.Append or MessageType.Heartbeat or MessageType.InstallSnapshot or MessageType.TimeoutNow;
    }

    /// <summary>
    /// True when the only thing to persist is a higher commit index. A driver may skip such a
    /// write: the commit index is recovered from the leader after a restart, and a lower stored
    /// one only means re-applying fewer entries from the local log at start-up.
    /// </summary>
    public bool OnlyCommitChanged(HardState persisted) =>
        Entries.Length == 0 && Snapshot is null
        && HardState is { } next && next.Term == persisted.Term && next.Vote == persisted.Vote;
}

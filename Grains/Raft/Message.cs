namespace ActorCluster.Grains.Raft;

/// <summary>The messages Raft nodes exchange.</summary>
public enum MessageType : byte
{
    /// <summary>Pre-vote request (thesis §9.6): "would you vote for me in term Term?". Changes no state.</summary>
    PreVote = 1,

    /// <summary>Answer to <see cref="PreVote"/>.</summary>
    PreVoteResponse = 2,

    /// <summary>RequestVote (§5.2).</summary>
    Vote = 3,

    /// <summary>Answer to <see cref="Vote"/>.</summary>
    VoteResponse = 4,

    /// <summary>AppendEntries with entries after (Index, LogTerm), and the leader's commit.</summary>
    Append = 5,

    /// <summary>Answer to <see cref="Append"/> or <see cref="InstallSnapshot"/>.</summary>
    AppendResponse = 6,

    /// <summary>Leader liveness and commit propagation; may carry a read-index context.</summary>
    Heartbeat = 7,

    /// <summary>Answer to <see cref="Heartbeat"/>, echoing its context.</summary>
    HeartbeatResponse = 8,

    /// <summary>InstallSnapshot (§7) for a follower whose next entry was compacted away.</summary>
    InstallSnapshot = 9,

    /// <summary>Leadership transfer: the receiver campaigns at once (thesis §3.10).</summary>
    TimeoutNow = 10,

    /// <summary>A follower's ReadIndex request forwarded to the leader.</summary>
    ReadIndex = 11,

    /// <summary>The leader's answer to a forwarded <see cref="ReadIndex"/>.</summary>
    ReadIndexResponse = 12,
}

/// <summary>
/// One Raft message. Fields not used by a <see cref="Type"/> keep their defaults.
/// Immutable once created; the <see cref="Entries"/> array is never mutated.
/// </summary>
public sealed class Message
{
    /// <summary>The context value that marks a vote as part of a leadership transfer.</summary>
    public const ulong TransferContext = ulong.MaxValue;

    /// <summary>The message kind.</summary>
    public required MessageType Type { get; init; }

    /// <summary>Sender node id.</summary>
    public required ulong From { get; init; }

    /// <summary>Receiver node id.</summary>
    public required ulong To { get; init; }

    /// <summary>The sender's term (for pre-votes, the term the candidate would take).</summary>
    public required ulong Term { get; init; }

    /// <summary>
    /// Append: previous entry's term. Votes: candidate's last log term. Rejections: the term of the
    /// follower's hint entry (conflict term).
    /// </summary>
    public ulong LogTerm { get; init; }

    /// <summary>
    /// Append: previous entry's index. Votes: candidate's last log index. AppendResponse: the
    /// highest index now matching (accept) or the rejected previous index (reject).
    /// ReadIndexResponse: the read index. Heartbeat and HeartbeatResponse: the leader's clock
    /// reading when it sent the heartbeat, echoed for its lease (0 without leases).
    /// </summary>
    public ulong Index { get; init; }

    /// <summary>Entries to append, in index order.</summary>
    public Entry[] Entries { get; init; } = [];

    /// <summary>The leader's commit index (Append, Heartbeat).</summary>
    public ulong Commit { get; init; }

    /// <summary>True for a rejected vote or append.</summary>
    public bool Reject { get; init; }

    /// <summary>On a rejected append: the follower's hint for the leader's next probe.</summary>
    public ulong RejectHint { get; init; }

    /// <summary>The snapshot of an <see cref="MessageType.InstallSnapshot"/>.</summary>
    public Snapshot? Snapshot { get; init; }

    /// <summary>On a heartbeat: the leader quiesces after it; a caught-up follower quiesces too and does not answer.</summary>
    public bool Quiesce { get; init; }

    /// <summary>Read-index request id, or <see cref="TransferContext"/> on a transfer vote.</summary>
    public ulong Context { get; init; }

    /// <inheritdoc />
    public override string ToString() =>
        $"{Type} {From}->{To} t{Term} i{Index} lt{LogTerm} n{Entries.Length} c{Commit}" +
        (Reject ? $" reject(hint {RejectHint})" : string.Empty) +
        (Quiesce ? " quiesce" : string.Empty) +
        (Context != 0 ? $" ctx{Context}" : string.Empty) +
        (Snapshot is null ? string.Empty : $" snap@{Snapshot.Index}");
}

namespace ActorCluster.Grains.Raft;

/// <summary>What happened to a proposal.</summary>
public enum ProposeStatus : byte
{
    /// <summary>Appended to the leader's log at [FirstIndex, LastIndex] in Term; not yet committed.</summary>
    Accepted = 0,

    /// <summary>This node is not the leader; <see cref="ProposeResult.LeaderHint"/> names the known leader, if any.</summary>
    NotLeader = 1,

    /// <summary>The leader is handing leadership over and takes no proposals until it is done.</summary>
    TransferInProgress = 2,

    /// <summary>A membership change is still uncommitted, or the leader has not yet committed an entry of its term.</summary>
    ConfChangePending = 3,

    /// <summary>The membership change does not apply to the current configuration.</summary>
    InvalidConfChange = 4,

    /// <summary>The learner to promote has not yet caught up with the commit index.</summary>
    LearnerNotCaughtUp = 5,

    /// <summary>The leader already holds <see cref="RaftOptions.MaxUncommittedEntries"/> uncommitted entries; retry later.</summary>
    Overloaded = 6,

    /// <summary>The target of a leadership transfer is not a voter.</summary>
    InvalidTarget = 7,
}

/// <summary>
/// The answer to a proposal. An accepted proposal is committed only if, once the applied index
/// reaches <see cref="LastIndex"/>, the entry there still has <see cref="Term"/>; a different term
/// means a new leader overwrote it and the outcome is "not applied".
/// </summary>
public readonly record struct ProposeResult(ProposeStatus Status, ulong Term, ulong FirstIndex, ulong LastIndex, ulong LeaderHint)
{
    /// <summary>True when the proposal entered the leader's log.</summary>
    public bool IsAccepted => Status == ProposeStatus.Accepted;

    internal static ProposeResult Rejected(ProposeStatus status, ulong term, ulong leader) => new(status, term, 0, 0, leader);
}

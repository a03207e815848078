namespace ActorCluster.Grains.Raft;

/// <summary>A node's role.</summary>
public enum RaftRole : byte
{
    /// <summary>Follows a leader, or waits for one.</summary>
    Follower = 0,

    /// <summary>Collects pre-votes before it disturbs anyone's term.</summary>
    PreCandidate = 1,

    /// <summary>Collects votes in a new term.</summary>
    Candidate = 2,

    /// <summary>Leads its term.</summary>
    Leader = 3,
}

/// <summary>Volatile state worth reporting when it changes; never persisted.</summary>
/// <param name="Leader">The known leader of the current term, or <see cref="RaftNode.None"/>.</param>
/// <param name="Role">This node's role.</param>
public readonly record struct SoftState(ulong Leader, RaftRole Role);

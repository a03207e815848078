namespace ActorCluster.Grains.Raft;

/// <summary>
/// The state a node must persist before it sends the messages of the same <see cref="Ready"/>:
/// its current term, the candidate it voted for in that term, and its commit index.
/// </summary>
/// <param name="Term">The latest term this node has seen.</param>
/// <param name="Vote">The node voted for in <paramref name="Term"/>, or <see cref="RaftNode.None"/>.</param>
/// <param name="Commit">The highest index known to be committed (may lag; never ahead of truth).</param>
public readonly record struct HardState(ulong Term, ulong Vote, ulong Commit);

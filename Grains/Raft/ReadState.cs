namespace ActorCluster.Grains.Raft;

/// <summary>
/// A completed ReadIndex request: once the local applied index reaches <paramref name="Index"/>,
/// a read of the state machine is linearizable with respect to the moment the request was made.
/// </summary>
/// <param name="Index">The commit index the leader confirmed with a quorum.</param>
/// <param name="Context">The request id given to <see cref="RaftNode.ReadIndex"/>.</param>
public readonly record struct ReadState(ulong Index, ulong Context);

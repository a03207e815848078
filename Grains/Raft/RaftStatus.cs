namespace ActorCluster.Grains.Raft;

/// <summary>The leader's view of one member's replication.</summary>
public readonly record struct PeerProgress(ulong Match, ulong Next, ProgressState State, bool IsLearner, bool RecentActive);

/// <summary>A consistent picture of one node, for tests, metrics and the status command.</summary>
public sealed record RaftStatus(
    ulong Id,
    RaftRole Role,
    ulong Term,
    ulong Vote,
    ulong Leader,
    ulong Commit,
    ulong Applied,
    ulong FirstIndex,
    ulong LastIndex,
    ulong SnapshotIndex,
    ClusterConfig Config,
    ulong LeadTransferee,
    IReadOnlyDictionary<ulong, PeerProgress> Progress);

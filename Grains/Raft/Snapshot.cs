namespace ActorCluster.Grains.Raft;

/// <summary>Where a snapshot sits in the log and the configuration in force at that point.</summary>
/// <param name="Index">The last log index the snapshot covers.</param>
/// <param name="Term">The term of the entry at <paramref name="Index"/>.</param>
/// <param name="Config">The configuration as of <paramref name="Index"/>.</param>
public sealed record SnapshotMetadata(ulong Index, ulong Term, ClusterConfig Config);

/// <summary>
/// A point-in-time image of the application state covering the log up to
/// <see cref="SnapshotMetadata.Index"/>. The core treats <see cref="Data"/> as opaque.
/// </summary>
public sealed record Snapshot(SnapshotMetadata Metadata, byte[] Data)
{
    /// <summary>Shorthand for <see cref="SnapshotMetadata.Index"/>.</summary>
    public ulong Index => Metadata.Index;

    /// <summary>Shorthand for <see cref="SnapshotMetadata.Term"/>.</summary>
    public ulong Term => Metadata.Term;
}

namespace ActorCluster.Grains.Raft;

/// <summary>
/// Deliberate defects that tests switch on to show that the paper tests and the simulator catch
/// them. Internal: production code cannot set them.
/// </summary>
[Flags]
internal enum RaftTestingKnobs
{
    None = 0,

    /// <summary>Grant votes without the §5.4.1 check that the candidate's log is up to date.</summary>
    GrantVoteWithoutLogCheck = 1,

    /// <summary>Commit entries of earlier terms by counting replicas (the Figure 8 mistake, §5.4.2).</summary>
    CommitPriorTermByCounting = 2,

    /// <summary>A lease, once held, never expires: a deposed leader goes on answering reads.</summary>
    LeaseNeverExpires = 4,
}

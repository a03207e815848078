namespace ActorCluster.Grains.Raft;

/// <summary>How the leader replicates to one follower.</summary>
public enum ProgressState : byte
{
    /// <summary>Next is a guess: send one append at a time and wait for the answer.</summary>
    Probe = 0,

    /// <summary>Next is known good: stream appends, up to the in-flight window.</summary>
    Replicate = 1,

    /// <summary>A snapshot is on its way; send nothing until it is acknowledged or given up.</summary>
    Snapshot = 2,
}

/// <summary>
/// The leader's view of one member's log (Raft's nextIndex/matchIndex, plus flow control).
/// Invariant: Match &lt; Next.
/// </summary>
internal sealed class Progress(ulong next, int maxInflight, long maxInflightBytes, bool isLearner)
{
    public ulong Match { get; set; }

    public ulong Next { get; set; } = next;

    public ProgressState State { get; private set; } = ProgressState.Probe;

    /// <summary>In the probe state: an append was sent and its answer has not come back.</summary>
    public bool ProbeSent { get; set; }

    /// <summary>In the snapshot state: the index of the snapshot sent.</summary>
    public ulong PendingSnapshot { get; private set; }

    /// <summary>
    /// In the snapshot state: the driver is still transferring the snapshot (it reports the end
    /// with <see cref="RaftNode.ReportSnapshot"/>); a large snapshot may take longer than an
    /// election timeout to send, and must not be started again meanwhile.
    /// </summary>
    public bool SnapshotInFlight { get; set; }

    /// <summary>Leader ticks since the snapshot was sent; the send is retried after an election timeout.</summary>
    public int SnapshotTicks { get; set; }

    /// <summary>The newest leader clock reading this member echoed from a heartbeat (leases).</summary>
    public long? LeaseAck { get; set; }

    /// <summary>Heard from since the last check-quorum round.</summary>
    public bool RecentActive { get; set; }

    /// <summary>The commit index last sent to this member in an append.</summary>
    public ulong SentCommit { get; set; }

    public bool IsLearner { get; set; } = isLearner;

    public Inflights Inflights { get; } = new(maxInflight, maxInflightBytes);

    /// <summary>True when nothing more may be sent now.</summary>
    public bool IsPaused => State switch
    {
        ProgressState.Probe => ProbeSent,
        ProgressState.Replicate => Inflights.IsFull,
        _ => true,
    };

    public void BecomeProbe()
    {
        // From the snapshot state this happens only when the snapshot went unanswered (an
        // acknowledged one moves straight to replicate), so nothing beyond Match is assumed.
        Next = Match + 1;
        ResetState(ProgressState.Probe);
    }

    public void BecomeReplicate()
    {
        Next = Match + 1;
        ResetState(ProgressState.Replicate);
    }

    public void BecomeSnapshot(ulong snapshotIndex)
    {
        ResetState(ProgressState.Snapshot);
        PendingSnapshot = snapshotIndex;
        SnapshotInFlight = true;
    }

    /// <summary>Records an acknowledgement up to <paramref name="index"/>; false if it told nothing new.</summary>
    public bool MaybeUpdate(ulong index)
    {
        var updated = false;
        if (Match < index)
        {
            Match = index;
            updated = true;
            ProbeSent = false;
        }

        Next = Math.Max(Next, index + 1);
        return updated;
    }

    /// <summary>
    /// Handles a rejection of the append whose previous index was <paramref name="rejected"/>, with
    /// the follower's hint. False when the rejection is stale (answers an older append).
    /// </summary>
    public bool MaybeDecreaseTo(ulong rejected, ulong probeHint)
    {
        if (State == ProgressState.Replicate)
        {
            if (rejected <= Match)
            {
                return false;
            }

            Next = Match + 1;
            return true;
        }

        if (Next - 1 != rejected)
        {
            return false;
        }

        Next = Math.Max(Math.Min(rejected, probeHint + 1), Match + 1);
        ProbeSent = false;
        return true;
    }

    /// <summary>Records that an append carrying entries up to <paramref name="lastIndex"/> (or none), of <paramref name="bytes"/> payload, was sent.</summary>
    public void OnAppendSent(int entryCount, ulong lastIndex, long bytes)
    {
        switch (State)
        {
            case ProgressState.Replicate when entryCount > 0:
                Next = lastIndex + 1;
                Inflights.Add(lastIndex, bytes);
                break;
            case ProgressState.Probe:
                ProbeSent = true;
                break;
        }
    }

    private void ResetState(ProgressState state)
    {
        State = state;
        ProbeSent = false;
        PendingSnapshot = 0;
        SnapshotTicks = 0;
        SnapshotInFlight = false;
        Inflights.Reset();
    }

    public override string ToString() => $"{State} match={Match} next={Next}{(IsLearner ? " learner" : string.Empty)}";
}

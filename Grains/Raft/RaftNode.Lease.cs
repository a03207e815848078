namespace ActorCluster.Grains.Raft;

/// <summary>
/// Leader leases (thesis §6.4.1; etcd's ReadOnlyLeaseBased, TiKV's lease read): a leader answers a
/// linearizable read from its own state while it holds a lease, without a heartbeat round.
/// </summary>
/// <remarks>
/// <para>
/// Every heartbeat carries the leader's clock reading at the moment it was sent, and the follower
/// echoes it. A follower that received that heartbeat reset its election timer after the reading
/// was taken, and with check-quorum it ignores campaigns for an election timeout after that
/// (leader stickiness). Once a quorum has echoed readings no older than <c>t</c>, no other leader
/// can be elected before <c>t</c> plus the followers' shortest stickiness, measured on their
/// clocks. The lease is <c>t + LeaseDuration</c> on the leader's clock, and the driver keeps
/// <see cref="RaftOptions.LeaseDuration"/> below the stickiness by a margin for clocks whose rates
/// differ (a bounded drift rate; no synchronised clocks are assumed).
/// </para>
/// <para>
/// Two events would let a follower vote within its stickiness, and both end the lease: a
/// follower that restarts forgets when it last heard from the leader, so a node refuses votes for
/// an election timeout after it starts; and a leadership transfer makes followers vote at once,
/// so a leader that has sent a TimeoutNow holds no lease for the rest of its term. A leader also
/// holds none before it has committed an entry of its term (as for ReadIndex), nor during a
/// transfer.
/// </para>
/// </remarks>
public sealed partial class RaftNode
{
    // Leader: a TimeoutNow went out in this term; followers may vote for its target at once.
    private bool _timeoutNowSent;

    // Ticks since this node started, up to the election timeout (startup stickiness).
    private int _ticksSinceStart;

    private bool LeasesEnabled => _options.LeaseDuration > 0;

    /// <summary>
    /// The read index a lease-holding leader may serve a linearizable read at — its commit index —
    /// or null when it holds no valid lease now (the caller falls back to <see cref="ReadIndex"/>).
    /// The read may be answered once the state machine has applied up to the returned index.
    /// </summary>
    public ulong? LeaseReadIndex() => HoldsLease() ? _log.Committed : null;

    /// <summary>The leader's clock reading when its lease ends, or null when it holds none.</summary>
    public long? LeaseExpiresAt => LeaseStart() is { } start ? start + _options.LeaseDuration : null;

    private bool HoldsLease()
    {
        if (LeaseStart() is not { } start)
        {
            return false;
        }

        var now = _options.Clock!();
        return (_options.Knobs & RaftTestingKnobs.LeaseNeverExpires) != 0 || now - start < _options.LeaseDuration;
    }

    /// <summary>
    /// The newest clock reading that a quorum of voters has acknowledged (the leader's own counts
    /// as now), or null when no lease can be held at all.
    /// </summary>
    private long? LeaseStart()
    {
        if (!LeasesEnabled || _role != RaftRole.Leader || _leadTransferee != None || _timeoutNowSent
            || _log.TermOrZero(_log.Committed) != _term)
        {
            return null;
        }

        var config = _log.Config;
        if (!config.IsVoter(_id))
        {
            return null;
        }

        var voters = config.Voters;
        Span<long> acks = voters.Count <= 16 ? stackalloc long[voters.Count] : new long[voters.Count];
        for (var i = 0; i < voters.Count; i++)
        {
            var voter = voters[i];
            acks[i] = voter == _id ? long.MaxValue
                : _progress.TryGetValue(voter, out var pr) && pr.LeaseAck is { } ack ? ack
                : long.MinValue;
        }

        // The quorum-th newest acknowledgement: a quorum has acknowledged readings at least this new.
        acks.Sort();
        var start = acks[voters.Count - config.Quorum];
        return start == long.MinValue ? null : start;
    }

    /// <summary>The clock reading a heartbeat carries, so its echo can extend the lease.</summary>
    private ulong LeaseStamp() => LeasesEnabled ? unchecked((ulong)_options.Clock!()) : 0;

    private void RecordLeaseAck(Message response, Progress pr)
    {
        if (!LeasesEnabled || response.Index == 0)
        {
            return;
        }

        var stamp = unchecked((long)response.Index);
        if (pr.LeaseAck is not { } previous || stamp > previous)
        {
            pr.LeaseAck = stamp;
        }
    }

    /// <summary>
    /// Leader stickiness, widened for leases: a node ignores campaigns within an election timeout
    /// of hearing from a leader, and — when leases are on — within an election timeout of starting,
    /// since a restarted node no longer knows when it last heard from one.
    /// </summary>
    private bool WithinLeaderStickiness() =>
        _options.CheckQuorum
        && ((_lead != None && _electionElapsed < _options.ElectionTicks)
            || (LeasesEnabled && _ticksSinceStart < _options.ElectionTicks));

    private void CountStartupTick()
    {
        if (_ticksSinceStart < _options.ElectionTicks)
        {
            _ticksSinceStart++;
        }
    }
}

namespace ActorCluster.Grains.Raft;

/// <summary>
/// Quiescence (CockroachDB's quiesced ranges, TiKV's hibernate regions): an idle group stops
/// ticking and heartbeating, so a shard nobody writes costs nothing.
/// </summary>
/// <remarks>
/// <para>
/// A leader whose log is fully committed and whose members have all acknowledged all of it, with
/// no read, transfer or membership change pending, sends a last heartbeat marked quiesce and stops.
/// A follower that receives it, caught up to the leader's commit index, stops too and does not
/// answer; one that is not caught up answers as usual, which wakes the leader to catch it up.
/// </para>
/// <para>
/// Any other input wakes a node: a proposal, a read, a transfer, a membership change, or any
/// message. A woken leader heartbeats at once. A quiesced follower does not notice a dead leader
/// by itself: the driver wakes it with <see cref="Unquiesce"/> when the leader's silo is suspected,
/// passing how long ago it last heard from the leader; it wakes a quiesced leader the same way
/// when a member's silo is suspected or restarted. A follower asks the leader first (a bare heartbeat
/// answer, which wakes a live leader into heartbeating) and campaigns if nothing comes within a
/// few heartbeats, so a false suspicion never costs a leadership change. Quiescence never shortens leader stickiness (a quiesced follower
/// counts no ticks, so it stays sticky), and a quiesced leader renews no lease: leases stay safe.
/// </para>
/// </remarks>
public sealed partial class RaftNode
{
    private bool _quiesced;

    /// <summary>True while this node is quiesced: ticks do nothing and it sends nothing.</summary>
    public bool Quiesced => _quiesced;

    /// <summary>
    /// Wakes a quiesced node. A leader heartbeats at once. A follower whose driver suspects the
    /// leader is gone passes <paramref name="ticksSinceLeaderContact"/> — the time since it last
    /// heard from the leader, in whole ticks, rounded down — so that its election timer counts from
    /// then, less a grace of two heartbeats in which a live leader answers the follower's query;
    /// 0 for any other reason. Does nothing on a node that is awake.
    /// </summary>
    public void Unquiesce(int ticksSinceLeaderContact = 0)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(ticksSinceLeaderContact);
        if (!_quiesced)
        {
            return;
        }

        _quiesced = false;
        if (_role == RaftRole.Leader)
        {
            // The quorum check counts from now: nobody spoke to a quiesced leader. Its view of
            // who is active is from before it quiesced, so it starts over: the group quiesces
            // again only once every member has answered since the wake, and a member that never
            // does (its silo restarted without its state) shows as inactive to the driver.
            _electionElapsed = 0;
            _heartbeatElapsed = 0;
            foreach (var (id, pr) in _progress)
            {
                if (id != _id)
                {
                    pr.RecentActive = false;
                }
            }

            BroadcastHeartbeat(NewestPendingReadContext);
        }
        else if (ticksSinceLeaderContact > 0 && _lead != None)
        {
            // The suspicion may be false (a slow silo, a late pulse): before campaigning, ask the
            // leader. Any message wakes a quiesced leader, which heartbeats at once and so resets
            // this timer within a round trip; a dead one leaves it to run out. Its answer has a
            // few heartbeats' grace; past that, the timer counts from the last contact.
            var grace = Math.Min(_options.ElectionTicks - 1, 2 * Math.Max(1, _options.HeartbeatTicks));
            _electionElapsed = Math.Max(_electionElapsed, Math.Min(ticksSinceLeaderContact, _options.ElectionTicks - grace));
            Send(new Message { Type = MessageType.HeartbeatResponse, From = _id, To = _lead, Term = _term });
        }
    }

    /// <summary>At a heartbeat: quiesce the group if nothing is left to do, sending the quiesce heartbeat.</summary>
    private bool MaybeQuiesce()
    {
        if (!_options.Quiesce || _leadTransferee != None || _pendingReads.Count > 0 || _readsAwaitingTermCommit.Count > 0
            || _log.Committed != _log.LastIndex || _log.TermOrZero(_log.Committed) != _term)
        {
            return false;
        }

        foreach (var pr in _progress.Values)
        {
            // Every member heard from lately: a quiesced leader's view of who is active freezes.
            if (pr.Match != _log.LastIndex || pr.State != ProgressState.Replicate || pr.Inflights.Count > 0 || !pr.RecentActive)
            {
                return false;
            }
        }

        _quiesced = true;
        foreach (var id in _progress.Keys)
        {
            Send(new Message { Type = MessageType.Heartbeat, From = _id, To = id, Term = _term, Commit = _log.Committed, Quiesce = true });
        }

        return true;
    }

    /// <summary>A follower: quiesce on the leader's quiesce heartbeat if caught up to its commit index; true if it did.</summary>
    private bool QuiesceOnHeartbeat(Message m)
    {
        if (!m.Quiesce || !_options.Quiesce || _lead != m.From || _log.Committed != m.Commit || _log.LastIndex != m.Commit)
        {
            return false;
        }

        _quiesced = true;
        return true;
    }
}

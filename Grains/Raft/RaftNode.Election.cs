namespace ActorCluster.Grains.Raft;

/// <summary>Roles, timeouts and elections (§5.2, thesis §9.6 pre-vote, §6.2 check-quorum).</summary>
public sealed partial class RaftNode
{
    private enum VoteOutcome
    {
        Pending,
        Won,
        Lost,
    }

    private void TickElection()
    {
        _electionElapsed++;
        if (Promotable && _electionElapsed >= _randomizedElectionTimeout)
        {
            _electionElapsed = 0;
            Campaign(transfer: false);
        }
    }

    private void TickLeader()
    {
        _heartbeatElapsed++;
        _electionElapsed++;
        if (_electionElapsed >= _options.ElectionTicks)
        {
            _electionElapsed = 0;
            if (_options.CheckQuorum && !QuorumRecentlyActive())
            {
                // §6.2 / thesis §3.6: a leader that cannot reach a quorum steps down, so clients
                // stop waiting on it and a partitioned minority does not keep a leader.
                QuorumLosses++;
                BecomeFollower(_term, None);
                return;
            }

            // A transfer that did not finish within an election timeout is abandoned.
            _leadTransferee = None;
        }

        foreach (var pr in _progress.Values)
        {
            if (pr.State == ProgressState.Snapshot && !pr.SnapshotInFlight && ++pr.SnapshotTicks >= _options.ElectionTicks)
            {
                // The snapshot or its answer was lost: probe again, which resends it if needed.
                pr.BecomeProbe();
                _replicationPending = true;
            }
        }

        if (_heartbeatElapsed >= _options.HeartbeatTicks)
        {
            _heartbeatElapsed = 0;
            if (MaybeQuiesce())
            {
                return;
            }

            // Every heartbeat carries the newest pending read (as etcd's does), so a round whose
            // heartbeat or answers were lost completes with the next heartbeat that gets through.
            BroadcastHeartbeat(NewestPendingReadContext);
        }
    }

    /// <summary>Counts voters heard from since the last check, and starts a new round.</summary>
    private bool QuorumRecentlyActive()
    {
        var config = _log.Config;
        var active = 0;
        foreach (var voter in config.Voters)
        {
            if (voter == _id || (_progress.TryGetValue(voter, out var pr) && pr.RecentActive))
            {
                active++;
            }
        }

        foreach (var pr in _progress.Values)
        {
            pr.RecentActive = false;
        }

        return active >= config.Quorum;
    }

    /// <summary>Starts an election: a pre-vote round first unless this is a leadership transfer.</summary>
    private void Campaign(bool transfer)
    {
        if (_role == RaftRole.Leader || !Promotable)
        {
            return;
        }

        if (_options.PreVote && !transfer)
        {
            BecomePreCandidate();
            _campaignIsTransfer = false;
            RequestVotes(MessageType.PreVote, _term + 1, context: 0);
        }
        else
        {
            BecomeCandidate();
            _campaignIsTransfer = transfer;
            RequestVotes(MessageType.Vote, _term, transfer ? Message.TransferContext : 0);
        }
    }

    private void RequestVotes(MessageType type, ulong voteTerm, ulong context)
    {
        if (Poll(_id, granted: true) == VoteOutcome.Won)
        {
            // A single-voter group wins at once.
            WinElection(type);
            return;
        }

        var lastIndex = _log.LastIndex;
        var lastTerm = _log.LastTerm;
        foreach (var voter in _log.Config.Voters)
        {
            if (voter != _id)
            {
                Send(new Message { Type = type, From = _id, To = voter, Term = voteTerm, Index = lastIndex, LogTerm = lastTerm, Context = context });
            }
        }
    }

    private void WinElection(MessageType requestType)
    {
        if (requestType == MessageType.PreVote)
        {
            BecomeCandidate();
            RequestVotes(MessageType.Vote, _term, context: 0);
        }
        else
        {
            BecomeLeader();
        }
    }

    private VoteOutcome Poll(ulong from, bool granted)
    {
        _votes.TryAdd(from, granted);
        var config = _log.Config;
        int yes = 0, no = 0;
        foreach (var voter in config.Voters)
        {
            if (_votes.TryGetValue(voter, out var vote))
            {
                if (vote)
                {
                    yes++;
                }
                else
                {
                    no++;
                }
            }
        }

        if (yes >= config.Quorum)
        {
            return VoteOutcome.Won;
        }

        return no > config.Voters.Count - config.Quorum ? VoteOutcome.Lost : VoteOutcome.Pending;
    }

    /// <summary>The receiver side of RequestVote and PreVote (§5.2, §5.4.1, thesis §9.6).</summary>
    private void HandleVoteRequest(Message m)
    {
        var isPreVote = m.Type == MessageType.PreVote;
        // §5.2: at most one vote per term, first come first served; a node that knows the
        // leader of this term does not vote. A pre-vote for a later term changes nothing here.
        var canVote = _vote == m.From
            || (_vote == None && _lead == None)
            || (isPreVote && m.Term > _term);
        var upToDate = (_options.Knobs & RaftTestingKnobs.GrantVoteWithoutLogCheck) != 0
            || _log.IsUpToDate(m.Index, m.LogTerm);
        var responseType = isPreVote ? MessageType.PreVoteResponse : MessageType.VoteResponse;
        if (canVote && upToDate)
        {
            // A granted pre-vote answers in the candidate's future term so that it counts it.
            Send(new Message { Type = responseType, From = _id, To = m.From, Term = m.Term });
            if (!isPreVote)
            {
                _electionElapsed = 0;
                _vote = m.From;
            }
        }
        else
        {
            Send(new Message { Type = responseType, From = _id, To = m.From, Term = _term, Reject = true });
        }
    }

    private void HandleVoteResponse(Message m)
    {
        var expected = _role == RaftRole.PreCandidate ? MessageType.PreVoteResponse : MessageType.VoteResponse;
        if (m.Type != expected)
        {
            return;
        }

        switch (Poll(m.From, !m.Reject))
        {
            case VoteOutcome.Won:
                WinElection(m.Type == MessageType.PreVoteResponse ? MessageType.PreVote : MessageType.Vote);
                break;
            case VoteOutcome.Lost:
                // A pre-candidate that lost keeps its term; a candidate keeps its (new) term.
                BecomeFollower(_term, None);
                break;
            case VoteOutcome.Pending:
                break;
        }
    }

    private void Reset(ulong term)
    {
        if (_term != term)
        {
            _term = term;
            _vote = None;
        }

        _lead = None;
        _electionElapsed = 0;
        _heartbeatElapsed = 0;
        ResetRandomizedElectionTimeout();
        _leadTransferee = None;
        _timeoutNowSent = false;
        _quiesced = false;
        _votes.Clear();
        _progress.Clear();
        _replicationPending = false;
        ResetReadIndex();
    }

    private void BecomeFollower(ulong term, ulong lead)
    {
        Reset(term);
        LeadsByTransfer = false;
        _role = RaftRole.Follower;
        _lead = lead;
    }

    private void BecomePreCandidate()
    {
        // Pre-vote changes neither the term nor the vote (thesis §9.6).
        _votes.Clear();
        _lead = None;
        _role = RaftRole.PreCandidate;
    }

    private void BecomeCandidate()
    {
        Reset(_term + 1);
        _vote = _id;
        _role = RaftRole.Candidate;
    }

    private void BecomeLeader()
    {
        Reset(_term);
        _role = RaftRole.Leader;
        _lead = _id;
        LeadsByTransfer = _campaignIsTransfer;
        _uncommittedBytes = _log.BytesBetween(_log.Committed + 1, _log.LastIndex);
        SyncProgressWithConfig();
        // §5.4.2 / §8: an empty entry of the new term lets the leader commit (and so learn
        // the commit index of) everything before it.
        AppendAsLeader([new Entry(_log.LastIndex + 1, _term, EntryType.Normal, [])]);
    }
}

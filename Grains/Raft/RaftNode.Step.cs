namespace ActorCluster.Grains.Raft;

/// <summary>Message handling: term rules (§5.1) and dispatch by role.</summary>
public sealed partial class RaftNode
{
    /// <summary>Handles one message received from a peer.</summary>
    public void Step(Message message)
    {
        ArgumentNullException.ThrowIfNull(message);
        if (message.To != _id)
        {
            throw new ArgumentException($"Message for node {message.To} stepped into node {_id}.", nameof(message));
        }

        // A member whose removal is committed is gone for good (ids are never reused): whatever it
        // still sends — a campaign from a node that never learned of its removal — is dropped, so
        // it cannot disrupt the group. A removed leader's TimeoutNow is the hand-over that follows
        // its removal, and still counts.
        if (message.Type != MessageType.TimeoutNow && _log.ConfigAt(_log.Committed).IsRemoved(message.From))
        {
            return;
        }

        if (_quiesced && !(message.Type == MessageType.Heartbeat && message.Quiesce))
        {
            Unquiesce();
        }

        if (!StepTerm(message))
        {
            return;
        }

        switch (message.Type)
        {
            case MessageType.PreVote or MessageType.Vote:
                HandleVoteRequest(message);
                return;
        }

        switch (_role)
        {
            case RaftRole.Leader:
                StepLeader(message);
                break;
            case RaftRole.Candidate or RaftRole.PreCandidate:
                StepCandidate(message);
                break;
            default:
                StepFollower(message);
                break;
        }

        AssertInvariants();
    }

    /// <summary>
    /// §5.1: a newer term makes this node a follower in it; an older term is stale. Returns false
    /// when the message needs no further handling.
    /// </summary>
    private bool StepTerm(Message m)
    {
        if (m.Term > _term)
        {
            if (m.Type is MessageType.Vote or MessageType.PreVote)
            {
                // Leader stickiness (thesis §4.2.3): a node that heard from a leader within the
                // election timeout ignores campaigns, unless the leader itself asked for one
                // (leases widen it to a node's first election timeout: RaftNode.Lease.cs).
                if (WithinLeaderStickiness() && m.Context != Message.TransferContext)
                {
                    return false;
                }
            }

            switch (m.Type)
            {
                case MessageType.PreVote:
                    // A pre-vote never changes the receiver's term.
                    break;
                case MessageType.PreVoteResponse when !m.Reject:
                    // Granted pre-votes carry the term the candidate would take; counted in the poll.
                    break;
                default:
                    var lead = m.Type is MessageType.Append or MessageType.Heartbeat or MessageType.InstallSnapshot ? m.From : None;
                    BecomeFollower(m.Term, lead);
                    break;
            }

            return true;
        }

        if (m.Term < _term)
        {
            // §5.1: a stale request is rejected with the current term, so its sender (a deposed
            // leader, or a candidate of an old election) learns it and steps down. This matters
            // with pre-vote and check-quorum, where the newer term may never reach it otherwise.
            switch (m.Type)
            {
                case MessageType.Heartbeat or MessageType.Append or MessageType.InstallSnapshot:
                    Send(new Message { Type = MessageType.AppendResponse, From = _id, To = m.From, Term = _term });
                    break;
                case MessageType.PreVote or MessageType.Vote:
                    var responseType = m.Type == MessageType.PreVote ? MessageType.PreVoteResponse : MessageType.VoteResponse;
                    Send(new Message { Type = responseType, From = _id, To = m.From, Term = _term, Reject = true });
                    break;
            }

            return false;
        }

        return true;
    }

    private void StepFollower(Message m)
    {
        switch (m.Type)
        {
            case MessageType.Append:
                HeardFromLeader(m.From);
                HandleAppend(m);
                break;
            case MessageType.Heartbeat:
                HeardFromLeader(m.From);
                HandleHeartbeat(m);
                break;
            case MessageType.InstallSnapshot:
                HeardFromLeader(m.From);
                HandleSnapshot(m);
                break;
            case MessageType.TimeoutNow:
                // Thesis §3.10: the leader hands over; campaign now, skipping pre-vote.
                Campaign(transfer: true);
                break;
            case MessageType.ReadIndexResponse:
                _readStates.Add(new ReadState(m.Index, m.Context));
                break;
        }
    }

    private void StepCandidate(Message m)
    {
        switch (m.Type)
        {
            case MessageType.Append or MessageType.Heartbeat or MessageType.InstallSnapshot:
                // §5.2: a candidate that hears from a leader of its term returns to follower.
                BecomeFollower(m.Term, m.From);
                StepFollower(m);
                break;
            case MessageType.PreVoteResponse or MessageType.VoteResponse:
                HandleVoteResponse(m);
                break;
        }
    }

    private void StepLeader(Message m)
    {
        if (m.Type == MessageType.ReadIndex)
        {
            HandleReadIndexRequest(m.From, m.Context);
            return;
        }

        if (!_progress.TryGetValue(m.From, out var pr))
        {
            return;
        }

        pr.RecentActive = true;
        switch (m.Type)
        {
            case MessageType.AppendResponse:
                HandleAppendResponse(m, pr);
                break;
            case MessageType.HeartbeatResponse:
                HandleHeartbeatResponse(m, pr);
                break;
        }
    }

    private void HeardFromLeader(ulong leader)
    {
        _electionElapsed = 0;
        _lead = leader;
    }
}

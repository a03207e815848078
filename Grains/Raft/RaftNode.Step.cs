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
                // election timeout ignores campaigns, unless the leader itself asked for one.
                var inLease = _options.CheckQuorum && _lead != None && _electionElapsed < _options.ElectionTicks;
                if (inLease && m.Context != Message.TransferContext)
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
            if ((_options.CheckQuorum || _options.PreVote) && m.Type is MessageType.Heartbeat or MessageType.Append)
            {
                // A stale leader (for instance one whose pre-vote-era partition healed) learns the
                // newer term from this answer and steps down; otherwise it would go on forever.
                Send(new Message { Type = MessageType.AppendResponse, From = _id, To = m.From, Term = _term });
            }
            else if (m.Type == MessageType.PreVote)
            {
                Send(new Message { Type = MessageType.PreVoteResponse, From = _id, To = m.From, Term = _term, Reject = true });
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

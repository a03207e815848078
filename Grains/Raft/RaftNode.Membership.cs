namespace ActorCluster.Grains.Raft;

/// <summary>Single-server membership changes (thesis §4) and leadership transfer (thesis §3.10).</summary>
public sealed partial class RaftNode
{
    /// <summary>
    /// Proposes one membership change. It takes effect on every node as soon as it is appended
    /// (thesis §4.1); only one may be uncommitted at a time, and none before the leader has
    /// committed an entry of its own term (the fix to the single-server change bug, thesis §4.1).
    /// A node joins as a learner and is promoted with <see cref="ConfChangeType.AddVoter"/> once it
    /// has caught up with the commit index.
    /// </summary>
    public ProposeResult ProposeConfChange(ConfChange change)
    {
        var refusal = CheckCanPropose();
        if (refusal is { } status)
        {
            return ProposeResult.Rejected(status, _term, _role == RaftRole.Leader ? None : _lead);
        }

        if (_log.ConfigIndex > _log.Committed || _log.TermOrZero(_log.Committed) != _term)
        {
            return ProposeResult.Rejected(ProposeStatus.ConfChangePending, _term, _id);
        }

        Unquiesce();

        var config = _log.Config;
        var invalid = change.NodeId == None || change.Type switch
        {
            // Ids are never reused: a new member gets an id above every id the group has had.
            ConfChangeType.AddLearner => change.NodeId < config.NextId,
            ConfChangeType.AddVoter => !config.IsLearner(change.NodeId),
            ConfChangeType.RemoveNode => !config.Contains(change.NodeId)
                || (config.IsVoter(change.NodeId) && config.Voters.Count == 1),
            _ => true,
        };
        if (invalid)
        {
            return ProposeResult.Rejected(ProposeStatus.InvalidConfChange, _term, _id);
        }

        if (change.Type == ConfChangeType.AddVoter && _progress[change.NodeId].Match < _log.Committed)
        {
            return ProposeResult.Rejected(ProposeStatus.LearnerNotCaughtUp, _term, _id);
        }

        var index = _log.LastIndex + 1;
        var data = new ConfChangeEntry(change, config.Apply(change)).Encode();
        AppendAsLeader([new Entry(index, _term, EntryType.ConfChange, data)]);
        return new ProposeResult(ProposeStatus.Accepted, _term, index, index, _id);
    }

    /// <summary>
    /// Hands leadership to the voter <paramref name="transferee"/>: the leader stops taking
    /// proposals, brings the transferee's log up to date and sends it TimeoutNow. Abandoned if not
    /// done within an election timeout.
    /// </summary>
    public ProposeStatus TransferLeadership(ulong transferee)
    {
        if (_role != RaftRole.Leader)
        {
            return ProposeStatus.NotLeader;
        }

        Unquiesce();

        if (transferee == _id)
        {
            return ProposeStatus.Accepted;
        }

        if (!_log.Config.IsVoter(transferee))
        {
            return ProposeStatus.InvalidTarget;
        }

        if (_leadTransferee == transferee)
        {
            return ProposeStatus.Accepted;
        }

        _leadTransferee = transferee;
        _electionElapsed = 0;
        var pr = _progress[transferee];
        if (pr.Match == _log.LastIndex)
        {
            SendTimeoutNow(transferee);
        }
        else
        {
            // Even an empty append helps: a rejection reveals entries the transferee lost.
            MaybeSendAppend(transferee, pr, sendIfEmpty: true);
        }

        return ProposeStatus.Accepted;
    }
}

namespace ActorCluster.Grains.Raft;

/// <summary>Log replication (§5.3), commitment (§5.4.2) and snapshots (§7).</summary>
public sealed partial class RaftNode
{
    /// <summary>
    /// The driver tells how sending the snapshot to <paramref name="to"/> ended (etcd's
    /// ReportSnapshot). Sent: the leader waits an election timeout for the follower's answer before
    /// it tries again. Failed: it goes back to probing, paused until the follower answers a
    /// heartbeat, so that an unreachable or refusing follower is not sent a snapshot in a loop.
    /// </summary>
    public void ReportSnapshot(ulong to, bool sent)
    {
        if (_role != RaftRole.Leader || !_progress.TryGetValue(to, out var pr) || pr.State != ProgressState.Snapshot)
        {
            return;
        }

        if (sent)
        {
            pr.SnapshotInFlight = false;
            pr.SnapshotTicks = 0;
        }
        else
        {
            pr.BecomeProbe();
            pr.ProbeSent = true;
        }
    }

    private void HandleAppend(Message m)
    {
        if (m.Index < _log.Committed)
        {
            // Everything up to our commit index matches the leader's log already (§5.4).
            Send(new Message { Type = MessageType.AppendResponse, From = _id, To = m.From, Term = _term, Index = _log.Committed });
            return;
        }

        if (_log.MaybeAppend(m.Index, m.LogTerm, m.Commit, m.Entries) is { } lastNew)
        {
            Send(new Message { Type = MessageType.AppendResponse, From = _id, To = m.From, Term = _term, Index = lastNew });
            return;
        }

        // Fast backtracking: point the leader at the last entry that could match, by term.
        var (hintIndex, hintTerm) = _log.FindConflictByTerm(Math.Min(m.Index, _log.LastIndex), m.LogTerm);
        Send(new Message
        {
            Type = MessageType.AppendResponse,
            From = _id,
            To = m.From,
            Term = _term,
            Index = m.Index,
            Reject = true,
            RejectHint = hintIndex,
            LogTerm = hintTerm,
        });
    }

    private void HandleHeartbeat(Message m)
    {
        // The leader sends min(match, commit), so this never passes what we acknowledged.
        _log.CommitTo(Math.Min(m.Commit, _log.LastIndex));
        if (QuiesceOnHeartbeat(m))
        {
            return;
        }

        // The leader's clock reading is echoed for its lease.
        Send(new Message { Type = MessageType.HeartbeatResponse, From = _id, To = m.From, Term = _term, Context = m.Context, Index = m.Index });
    }

    private void HandleSnapshot(Message m)
    {
        var snapshot = m.Snapshot ?? throw new ArgumentException("InstallSnapshot without a snapshot.", nameof(m));
        if (snapshot.Index <= _log.Committed)
        {
            Send(new Message { Type = MessageType.AppendResponse, From = _id, To = m.From, Term = _term, Index = _log.Committed });
            return;
        }

        if (_log.MatchTerm(snapshot.Index, snapshot.Term))
        {
            // The log already holds the snapshot's last entry: keep the log, just commit. Only
            // what the snapshot covers is known to match the leader: entries after it may be from
            // a deposed leader's term, so acknowledging the whole log could count them toward a
            // quorum they are not part of (etcd acknowledges the commit index here too).
            _log.CommitTo(snapshot.Index);
            Send(new Message { Type = MessageType.AppendResponse, From = _id, To = m.From, Term = _term, Index = _log.Committed });
            return;
        }

        _log.Restore(snapshot);
        Send(new Message { Type = MessageType.AppendResponse, From = _id, To = m.From, Term = _term, Index = _log.LastIndex });
    }

    private void HandleAppendResponse(Message m, Progress pr)
    {
        if (m.Reject)
        {
            var hint = m.RejectHint;
            if (m.LogTerm > 0)
            {
                hint = _log.FindConflictByTerm(m.RejectHint, m.LogTerm).Index;
            }

            if (pr.MaybeDecreaseTo(m.Index, hint))
            {
                if (pr.State == ProgressState.Replicate)
                {
                    pr.BecomeProbe();
                }

                _replicationPending = true;
            }

            return;
        }

        if (!pr.MaybeUpdate(m.Index))
        {
            return;
        }

        switch (pr.State)
        {
            case ProgressState.Probe:
                pr.BecomeReplicate();
                break;
            case ProgressState.Snapshot when pr.Match >= pr.PendingSnapshot:
                pr.BecomeReplicate();
                break;
            case ProgressState.Replicate:
                pr.Inflights.FreeLE(m.Index);
                break;
        }

        _replicationPending = true;
        MaybeCommit();
        if (m.From == _leadTransferee && pr.Match == _log.LastIndex)
        {
            SendTimeoutNow(m.From);
        }
    }

    private void HandleHeartbeatResponse(Message m, Progress pr)
    {
        RecordLeaseAck(m, pr);
        pr.ProbeSent = false;
        if (pr.State == ProgressState.Replicate && pr.Inflights.IsFull)
        {
            // The window may be stuck on lost messages; let one more through to find out.
            pr.Inflights.FreeFirst();
        }

        if (pr.Match < _log.LastIndex)
        {
            // An empty append reveals a gap (the follower rejects it) when appends were lost.
            MaybeSendAppend(m.From, pr, sendIfEmpty: true);
        }

        if (m.Context != 0)
        {
            AcknowledgeReadIndex(m.From, m.Context);
        }
    }

    /// <summary>Sends what each follower can take now; called when a ready is prepared.</summary>
    private void FlushReplication()
    {
        if (!_replicationPending || _role != RaftRole.Leader)
        {
            return;
        }

        _replicationPending = false;
        foreach (var (id, pr) in _progress)
        {
            while (MaybeSendAppend(id, pr, sendIfEmpty: _options.BroadcastCommit && pr.SentCommit < _log.Committed) && pr.State == ProgressState.Replicate)
            {
            }
        }
    }

    /// <summary>Sends one append (or the snapshot) to a follower if flow control allows.</summary>
    private bool MaybeSendAppend(ulong to, Progress pr, bool sendIfEmpty)
    {
        if (pr.IsPaused)
        {
            return false;
        }

        var prevIndex = pr.Next - 1;
        if (!_log.TryTerm(prevIndex, out var prevTerm))
        {
            return SendSnapshot(to, pr);
        }

        var lastIndex = _log.LastIndex;
        var entries = pr.Next <= lastIndex
            ? _log.Slice(pr.Next, lastIndex, _options.MaxEntriesPerMessage, _options.MaxMessageBytes)
            : [];
        if (entries.Length == 0 && !sendIfEmpty)
        {
            return false;
        }

        var commit = _log.Committed;
        Send(new Message
        {
            Type = MessageType.Append,
            From = _id,
            To = to,
            Term = _term,
            Index = prevIndex,
            LogTerm = prevTerm,
            Entries = entries,
            Commit = commit,
        });
        pr.SentCommit = commit;
        pr.OnAppendSent(entries.Length, entries.Length > 0 ? entries[^1].Index : prevIndex, RaftLog.SizeOf(entries));
        return true;
    }

    private bool SendSnapshot(ulong to, Progress pr)
    {
        var snapshot = _log.LatestSnapshot;
        if (snapshot is null || snapshot.Index < _log.OffsetIndex)
        {
            throw new InvalidOperationException($"Entry {pr.Next - 1} was compacted but no snapshot covers it.");
        }

        Send(new Message { Type = MessageType.InstallSnapshot, From = _id, To = to, Term = _term, Snapshot = snapshot });
        pr.BecomeSnapshot(snapshot.Index);
        return true;
    }

    private void BroadcastHeartbeat(ulong context)
    {
        var stamp = LeaseStamp();
        foreach (var (id, pr) in _progress)
        {
            Send(new Message
            {
                Type = MessageType.Heartbeat,
                From = _id,
                To = id,
                Term = _term,
                Commit = Math.Min(pr.Match, _log.Committed),
                Context = context,
                Index = stamp,
            });
        }
    }

    private void SendTimeoutNow(ulong to)
    {
        // Its target will be voted for at once, stickiness or not: no lease for the rest of the term.
        _timeoutNowSent = true;
        Send(new Message { Type = MessageType.TimeoutNow, From = _id, To = to, Term = _term });
    }

    /// <summary>
    /// Advances the commit index to the highest index stored on a quorum of voters — only if that
    /// entry is of the current term (§5.4.2, Figure 8). The leader's own log counts once durable.
    /// </summary>
    private void MaybeCommit()
    {
        var config = _log.Config;
        var voters = config.Voters;
        Span<ulong> matches = stackalloc ulong[voters.Count];
        for (var i = 0; i < voters.Count; i++)
        {
            matches[i] = voters[i] == _id ? _log.Stable : _progress[voters[i]].Match;
        }

        matches.Sort();
        var quorumIndex = matches[voters.Count - config.Quorum];
        if (quorumIndex <= _log.Committed)
        {
            return;
        }

        var countPriorTerms = (_options.Knobs & RaftTestingKnobs.CommitPriorTermByCounting) != 0;
        if (_log.TermOrZero(quorumIndex) != _term && !countPriorTerms)
        {
            return;
        }

        _uncommittedBytes = Math.Max(0, _uncommittedBytes - _log.BytesBetween(_log.Committed + 1, quorumIndex));
        _log.CommitTo(quorumIndex);
        _replicationPending = true;
        OnLeaderCommitAdvanced();
    }

    private void OnLeaderCommitAdvanced()
    {
        if (_log.TermOrZero(_log.Committed) == _term)
        {
            ReleasePendingReadIndex();
        }

        if (!_log.Config.IsVoter(_id) && _log.ConfigIndex <= _log.Committed)
        {
            // Thesis §4.2.2: a leader removed from the configuration leads until the change is
            // committed, then steps down; handing over first spares the group an election timeout.
            var successor = MostUpToDateVoter();
            if (successor != None && _progress[successor].Match == _log.LastIndex)
            {
                SendTimeoutNow(successor);
            }

            BecomeFollower(_term, None);
        }
    }

    private ulong MostUpToDateVoter()
    {
        var best = None;
        ulong bestMatch = 0;
        foreach (var voter in _log.Config.Voters)
        {
            if (voter != _id && _progress.TryGetValue(voter, out var pr) && (best == None || pr.Match > bestMatch))
            {
                best = voter;
                bestMatch = pr.Match;
            }
        }

        return best;
    }

    /// <summary>Keeps one progress per member other than this node (leader only).</summary>
    private void SyncProgressWithConfig()
    {
        if (_role != RaftRole.Leader)
        {
            return;
        }

        var config = _log.Config;
        foreach (var id in _progress.Keys.ToArray())
        {
            if (!config.Contains(id))
            {
                _progress.Remove(id);
            }
        }

        foreach (var id in config.Members)
        {
            if (id == _id)
            {
                continue;
            }

            if (_progress.TryGetValue(id, out var pr))
            {
                pr.IsLearner = config.IsLearner(id);
            }
            else
            {
                // A new member counts as active until the next check-quorum round.
                _progress[id] = new Progress(_log.LastIndex + 1, _options.MaxInflightMessages, _options.MaxInflightBytes, config.IsLearner(id)) { RecentActive = true };
            }
        }

        if (_leadTransferee != None && !config.IsVoter(_leadTransferee))
        {
            _leadTransferee = None;
        }

        _replicationPending = true;
    }
}

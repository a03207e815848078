namespace ActorCluster.Grains.Raft;

/// <summary>
/// ReadIndex (thesis §6.4): linearizable reads without writing to the log. The leader records its
/// commit index, confirms with a heartbeat round that it is still the leader, and then the read may
/// be served once the state machine has applied up to that index.
/// </summary>
public sealed partial class RaftNode
{
    private readonly List<PendingRead> _pendingReads = [];
    private readonly List<(ulong From, ulong Context)> _readsAwaitingTermCommit = [];

    /// <summary>
    /// Requests a linearizable read point. The answer arrives as a <see cref="ReadState"/> with
    /// the same <paramref name="context"/> in a later ready; on a follower it is forwarded to the
    /// leader. Contexts must be unique and non-zero. Requests are dropped without an answer when
    /// leadership changes; the driver fails them when it sees a new <see cref="SoftState"/>.
    /// </summary>
    public ProposeStatus ReadIndex(ulong context)
    {
        if (context == 0 || context == Message.TransferContext)
        {
            throw new ArgumentOutOfRangeException(nameof(context), context, "Read contexts must be non-zero and not the transfer marker.");
        }

        if (_role == RaftRole.Leader)
        {
            if (!_log.Config.IsVoter(_id))
            {
                return ProposeStatus.NotLeader;
            }

            Unquiesce();
            HandleReadIndexRequest(_id, context);
            return ProposeStatus.Accepted;
        }

        if (_lead == None || _role != RaftRole.Follower)
        {
            return ProposeStatus.NotLeader;
        }

        Send(new Message { Type = MessageType.ReadIndex, From = _id, To = _lead, Term = _term, Context = context });
        return ProposeStatus.Accepted;
    }

    private void HandleReadIndexRequest(ulong from, ulong context)
    {
        if (_log.TermOrZero(_log.Committed) != _term)
        {
            // Until the leader commits an entry of its term it does not know the commit index.
            _readsAwaitingTermCommit.Add((from, context));
            return;
        }

        if (HoldsLease())
        {
            // No other leader can exist before the lease ends: no round needed (RaftNode.Lease.cs).
            CompleteRead(from, new ReadState(_log.Committed, context));
            return;
        }

        var config = _log.Config;
        if (config.Voters.Count == 1 && config.IsVoter(_id))
        {
            CompleteRead(from, new ReadState(_log.Committed, context));
            return;
        }

        if (_pendingReads.Exists(r => r.Context == context))
        {
            return;
        }

        var read = new PendingRead(from, context, _log.Committed);
        read.Acks.Add(_id);
        _pendingReads.Add(read);
        BroadcastHeartbeat(context);
    }

    /// <summary>The context of the newest read awaiting confirmation, or 0 when none waits.</summary>
    private ulong NewestPendingReadContext => _pendingReads.Count == 0 ? 0 : _pendingReads[^1].Context;

    private void AcknowledgeReadIndex(ulong from, ulong context)
    {
        var position = _pendingReads.FindIndex(r => r.Context == context);
        if (position < 0)
        {
            return;
        }

        var read = _pendingReads[position];
        read.Acks.Add(from);
        var config = _log.Config;
        var votes = read.Acks.Count(config.IsVoter);
        if (votes < config.Quorum)
        {
            return;
        }

        // Leadership confirmed at a moment after every earlier request arrived: all complete.
        for (var i = 0; i <= position; i++)
        {
            var done = _pendingReads[i];
            CompleteRead(done.From, new ReadState(done.Index, done.Context));
        }

        _pendingReads.RemoveRange(0, position + 1);
    }

    private void ReleasePendingReadIndex()
    {
        if (_readsAwaitingTermCommit.Count == 0)
        {
            return;
        }

        var waiting = _readsAwaitingTermCommit.ToArray();
        _readsAwaitingTermCommit.Clear();
        foreach (var (from, context) in waiting)
        {
            HandleReadIndexRequest(from, context);
        }
    }

    private void CompleteRead(ulong from, ReadState state)
    {
        if (from == _id)
        {
            _readStates.Add(state);
        }
        else
        {
            Send(new Message { Type = MessageType.ReadIndexResponse, From = _id, To = from, Term = _term, Index = state.Index, Context = state.Context });
        }
    }

    private void ResetReadIndex()
    {
        _pendingReads.Clear();
        _readsAwaitingTermCommit.Clear();
    }

    private sealed class PendingRead(ulong from, ulong context, ulong index)
    {
        public ulong From { get; } = from;

        public ulong Context { get; } = context;

        public ulong Index { get; } = index;

        public HashSet<ulong> Acks { get; } = [];
    }
}

using System.Diagnostics;
using ActorCluster.Grains.Interfaces.Kv;
using ActorCluster.Grains.Raft;

namespace ActorCluster.Grains.Replicas;

/// <summary>
/// What a replica reports: its gauges, the counters its core keeps, and the spans of traced
/// writes (see <see cref="Tracing"/>).
/// </summary>
public sealed partial class RaftReplicaGrain
{
    /// <summary>Most spans a follower keeps open while it stores appends; older ones end unfinished.</summary>
    private const int MaxAppendSpans = 256;

    /// <summary>Most writes' traces one append batch links to.</summary>
    private const int MaxReplicateLinks = 32;

    /// <summary>Most answered writes whose trace a leader keeps for followers yet to store them.</summary>
    private const int MaxAnsweredTraces = 256;

    private readonly List<(ulong LastIndex, Activity Span)> _appendSpans = [];

    /// <summary>
    /// Traced writes this leader has answered, by index, oldest first: a follower that stores one
    /// after the quorum did (slow, paused, or cut off for a while) still does it under the
    /// write's trace. Dropped once every voter holds them, beyond <see cref="MaxAnsweredTraces"/>,
    /// and all when leadership is lost (a later term may put other entries at those indexes).
    /// </summary>
    private readonly Queue<(ulong Index, ActivityContext Context)> _answeredTraces = new();
    private long _quorumLossesCounted;

    private void PublishGauges()
    {
        if (_gauge is null || _raft is not { } raft)
        {
            return;
        }

        var pendingReads = _readsWaitingForRound.Count;
        foreach (var round in _readsInRound.Values)
        {
            pendingReads += round.Count;
        }

        foreach (var (_, reads) in _readsWaitingForApply)
        {
            pendingReads += reads.Count;
        }

        _gauge.Update(
            applyLag: raft.CommitIndex - Math.Min(raft.CommitIndex, _kv.AppliedIndex),
            voterLag: raft.VoterLag(),
            pendingWrites: _pendingWrites.Count,
            pendingReads: pendingReads,
            leaderKnown: raft.Leader != RaftNode.None,
            isLeader: raft.Role == RaftRole.Leader);
    }

    private void CountQuorumLosses()
    {
        var losses = _raft!.QuorumLosses;
        if (losses != _quorumLossesCounted)
        {
            ReplicaMetrics.QuorumLost.Add(losses - _quorumLossesCounted, _metricTags);
            _quorumLossesCounted = losses;
        }
    }

    /// <summary>The leader's span of a write it just proposed, a child of the call's span.</summary>
    private Activity? ProposeSpan(ulong index, ulong term)
    {
        var span = Tracing.StartDetached("raft.propose", ActivityKind.Internal);
        span?.SetTag("actorcluster.shard", _shard).SetTag("actorcluster.replica", _id).SetTag("raft.index", index).SetTag("raft.term", term);
        return span;
    }

    /// <summary>
    /// The span under which an append batch to <paramref name="peer"/> travels: a child of the
    /// first traced write it carries, linked to the others. Null when it carries none.
    /// </summary>
    private Activity? ReplicateSpan(IEnumerable<Message> batch, ulong peer)
    {
        ForgetTracesAllVotersHold();
        if ((_pendingWrites.Count == 0 && _answeredTraces.Count == 0) || !Tracing.Source.HasListeners())
        {
            return null;
        }

        List<ActivityContext>? traced = null;
        ulong first = 0, last = 0;
        foreach (var message in batch)
        {
            if (message.Type != MessageType.Append)
            {
                continue;
            }

            foreach (var entry in message.Entries)
            {
                if (TraceOf(entry.Index) is { } context && (traced ??= []).Count < MaxReplicateLinks)
                {
                    traced.Add(context);
                }

                first = first == 0 ? entry.Index : first;
                last = entry.Index;
            }
        }

        if (traced is null)
        {
            return null;
        }

        var replicate = Tracing.StartDetached("raft.replicate", ActivityKind.Producer, traced[0], traced.Skip(1).Select(c => new ActivityLink(c)));
        replicate?.SetTag("actorcluster.shard", _shard).SetTag("actorcluster.replica", _id).SetTag("raft.peer", peer)
            .SetTag("raft.first_index", first).SetTag("raft.last_index", last);
        return replicate;
    }

    /// <summary>The trace of the write at <paramref name="index"/>: pending, or answered and remembered.</summary>
    private ActivityContext? TraceOf(ulong index)
    {
        if (_pendingWrites.TryGetValue(index, out var pending))
        {
            return pending.Span?.Context;
        }

        if (_answeredTraces.Count > 0 && index >= _answeredTraces.Peek().Index)
        {
            foreach (var (answered, context) in _answeredTraces)
            {
                if (answered == index)
                {
                    return context;
                }
            }
        }

        return null;
    }

    /// <summary>Remembers the trace of a write just answered, for the followers yet to store it.</summary>
    private void RememberAnsweredTrace(ulong index, Activity span)
    {
        _answeredTraces.Enqueue((index, span.Context));
        while (_answeredTraces.Count > MaxAnsweredTraces)
        {
            _answeredTraces.Dequeue();
        }
    }

    private void ForgetTracesAllVotersHold()
    {
        if (_answeredTraces.Count == 0)
        {
            return;
        }

        var heldByAll = _raft!.LastIndex - _raft.VoterLag();
        while (_answeredTraces.Count > 0 && _answeredTraces.Peek().Index <= heldByAll)
        {
            _answeredTraces.Dequeue();
        }
    }

    /// <summary>
    /// On a follower, a span for an append batch that came with a trace and that its log took
    /// (its last entry, <paramref name="lastIndex"/> of <paramref name="lastTerm"/>, is in the log
    /// now): it ends once the entries are stored, and so acknowledged. An append the core refused
    /// (a stale leader's, one that does not follow the log) gets no span.
    /// </summary>
    private void StartAppendSpan(RaftEnvelope envelope, ulong lastIndex, ulong lastTerm)
    {
        if (envelope.TraceParent is not { } parent || lastIndex == 0
            || !_raft!.TryGetTerm(lastIndex, out var term) || term != lastTerm
            || !ActivityContext.TryParse(parent, null, out var context))
        {
            return;
        }

        var span = Tracing.StartDetached("raft.append", ActivityKind.Consumer, context);
        if (span is null)
        {
            return;
        }

        span.SetTag("actorcluster.shard", _shard).SetTag("actorcluster.replica", _id).SetTag("raft.last_index", lastIndex);
        _appendSpans.Add((lastIndex, span));
        if (_appendSpans.Count > MaxAppendSpans)
        {
            Tracing.StopDetached(_appendSpans[0].Span, "not stored while its span was kept");
            _appendSpans.RemoveAt(0);
        }

        // Entries it held already (a resend after a lost answer) are stored: nothing will be written for them.
        EndAppendSpans(_persistedLastIndex);
    }

    /// <summary>Ends the spans of appends stored up to <paramref name="persisted"/>, in whatever order they came.</summary>
    private void EndAppendSpans(ulong persisted)
    {
        if (_appendSpans.Count == 0)
        {
            return;
        }

        _appendSpans.RemoveAll(open =>
        {
            if (open.LastIndex > persisted)
            {
                return false;
            }

            Tracing.StopDetached(open.Span);
            return true;
        });
    }

    private void EndAppendSpans()
    {
        foreach (var open in _appendSpans)
        {
            Tracing.StopDetached(open.Span, "the replica stopped");
        }

        _appendSpans.Clear();
    }

    /// <summary>Applies <paramref name="entry"/>, under a span when it is a traced write of this leader.</summary>
    private KvResponse? ApplyTraced(Entry entry, PendingWrite? pending)
    {
        if (pending?.Span is not { } propose)
        {
            return ApplyEntry(entry);
        }

        var apply = Tracing.StartDetached("raft.apply", ActivityKind.Internal, propose.Context);
        apply?.SetTag("actorcluster.shard", _shard).SetTag("raft.index", entry.Index);
        try
        {
            return ApplyEntry(entry);
        }
        finally
        {
            Tracing.StopDetached(apply);
        }
    }
}

using ActorCluster.Grains.Interfaces.Kv;
using ActorCluster.Grains.Raft;

namespace ActorCluster.Grains.Replicas;

/// <summary>
/// Reads. A leader holding a lease answers a linearizable read from its applied state at once
/// (RaftNode.Lease.cs). Otherwise linearizable reads are batched: every read that arrives while a ReadIndex round is in
/// flight joins the next round, so one heartbeat round to a quorum confirms leadership for many
/// reads; each is served once the state machine has applied up to the confirmed index.
/// </summary>
public sealed partial class RaftReplicaGrain
{
    private readonly List<PendingRead> _readsWaitingForRound = [];
    private readonly Dictionary<ulong, List<PendingRead>> _readsInRound = [];
    private readonly List<(ulong Index, List<PendingRead> Reads)> _readsWaitingForApply = [];
    private ulong _nextReadContext;
    private ulong _readRoundTerm;

    public Task<ReplicaReply> Read(string key, ReadConsistency consistency)
    {
        if (_stoppedReason is not null || _raft is null)
        {
            return Task.FromResult(ReplicaReply.Retry($"replica stopped: {_stoppedReason ?? "starting"}"));
        }

        if (KeyRules.ValidateKey(key) is { } error)
        {
            return Task.FromResult(ReplicaReply.Done(new KvResponse(KvStatus.InvalidRequest, 0, null, error)));
        }

        if (consistency == ReadConsistency.Stale)
        {
            return Task.FromResult(ReplicaReply.Done(_kv.Get(key), Members));
        }

        if (_raft.Role != RaftRole.Leader)
        {
            return Task.FromResult(ReplicaReply.NotLeader(_raft.Leader, Members));
        }

        if (_raft.LeaseReadIndex() is { } leaseIndex && _kv.AppliedIndex >= leaseIndex)
        {
            // Under a lease no other leader can exist: answer from the applied state at once.
            ReplicaMetrics.LeaseReads.Add(1);
            Tracing.StopDetached(ReadSpan(lease: true));
            return Task.FromResult(ReplicaReply.Done(_kv.Get(key), Members));
        }

        var read = new PendingRead(key, ReadSpan(lease: false));
        _readsWaitingForRound.Add(read);
        if (_readsInRound.Count == 0 && !_batching)
        {
            StartReadRound();
        }

        return WithinWaitLimitAsync(read.Completion.Task, "the read");
    }

    private void StartReadRound()
    {
        if (_readsWaitingForRound.Count == 0)
        {
            return;
        }

        var context = ++_nextReadContext;
        if (Raft.ReadIndex(context) != ProposeStatus.Accepted)
        {
            FailReads("not the leader");
            return;
        }

        _readsInRound[context] = [.. _readsWaitingForRound];
        _readsWaitingForRound.Clear();
        _readRoundTerm = Raft.Term;
        ReplicaMetrics.ReadRounds.Add(1);
        SchedulePump();
    }

    private void OnReadIndex(ReadState state)
    {
        if (!_readsInRound.Remove(state.Context, out var reads))
        {
            return;
        }

        if (_kv.AppliedIndex >= state.Index)
        {
            Serve(reads);
        }
        else
        {
            _readsWaitingForApply.Add((state.Index, reads));
        }

        StartReadRound();
    }

    /// <summary>
    /// The core forgets pending read rounds when it leaves the leadership, even when it wins it
    /// back before the driver sees a role change (the term differs then): fail such a round, or
    /// every later read would queue behind one that will never be answered.
    /// </summary>
    private void AbandonReadRoundIfLeadershipChanged()
    {
        if (_readsInRound.Count > 0 && (Raft.Role != RaftRole.Leader || Raft.Term != _readRoundTerm))
        {
            FailReads("leadership changed while the read was being confirmed");
        }
    }

    private void ServeReadsUpTo(ulong applied)
    {
        for (var i = _readsWaitingForApply.Count - 1; i >= 0; i--)
        {
            if (_readsWaitingForApply[i].Index <= applied)
            {
                Serve(_readsWaitingForApply[i].Reads);
                _readsWaitingForApply.RemoveAt(i);
            }
        }
    }

    private void Serve(List<PendingRead> reads)
    {
        foreach (var read in reads)
        {
            read.Completion.TrySetResult(ReplicaReply.Done(_kv.Get(read.Key), Members));
            Tracing.StopDetached(read.Span);
        }
    }

    private void FailReads(string reason)
    {
        var reply = ReplicaReply.Retry(reason);
        foreach (var read in _readsWaitingForRound)
        {
            read.Completion.TrySetResult(reply);
            Tracing.StopDetached(read.Span, reason);
        }

        foreach (var reads in _readsInRound.Values.Concat(_readsWaitingForApply.Select(w => w.Reads)))
        {
            foreach (var read in reads)
            {
                read.Completion.TrySetResult(reply);
                Tracing.StopDetached(read.Span, reason);
            }
        }

        _readsWaitingForRound.Clear();
        _readsInRound.Clear();
        _readsWaitingForApply.Clear();
    }

    /// <summary>The leader's span of a linearizable read: at once under a lease, else until the read is served.</summary>
    private System.Diagnostics.Activity? ReadSpan(bool lease)
    {
        var span = Tracing.StartDetached("raft.read", System.Diagnostics.ActivityKind.Internal);
        span?.SetTag("actorcluster.shard", _shard).SetTag("actorcluster.replica", _id).SetTag("raft.read.lease", lease);
        return span;
    }

    private sealed class PendingRead(string key, System.Diagnostics.Activity? span)
    {
        public string Key { get; } = key;

        public System.Diagnostics.Activity? Span { get; } = span;

        public TaskCompletionSource<ReplicaReply> Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }
}

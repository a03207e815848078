using ActorCluster.Grains.Raft;

namespace ActorCluster.Grains.Replicas;

/// <summary>
/// Snapshots travel in chunks of <see cref="ReplicaOptions.SnapshotChunkBytes"/>, one grain call
/// each, awaited one after another (the grain is reentrant, so the transfer never blocks a turn):
/// a shard of any size reaches a follower without one message ever exceeding Orleans's limit, and
/// no more than one chunk per transfer is in flight. The follower assembles them and steps the
/// whole snapshot into its core once the last one is in. The core learns how the transfer ended
/// (ReportSnapshot) and tries again later if it failed.
/// </summary>
public sealed partial class RaftReplicaGrain
{
    private static readonly TimeSpan SnapshotChunkTimeout = TimeSpan.FromSeconds(30);
    private IncomingSnapshot? _incomingSnapshot;
    private TaskCompletionSource? _installPersisted;
    private ulong _installIndex;

    /// <summary>
    /// Takes one chunk; the last one is answered only once the whole snapshot is durable, so that
    /// the leader, which waits an election timeout for the follower's acknowledgement after the
    /// transfer, does not start a new transfer while a large snapshot is still being written.
    /// </summary>
    public async Task<bool> InstallSnapshotChunk(SnapshotChunk chunk)
    {
        ArgumentNullException.ThrowIfNull(chunk);
        if (!TakeSnapshotChunk(chunk, out var restored))
        {
            return false;
        }

        if (restored is { } index)
        {
            var persisted = _installPersisted = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            _installIndex = index;
            SchedulePump();
            try
            {
                await persisted.Task.WaitAsync(SnapshotChunkTimeout);
            }
            catch (TimeoutException)
            {
                // Still writing; the leader hears from this replica once it is done.
            }
        }

        return _stoppedReason is null;
    }

    private void OnSnapshotInstalled(ulong index)
    {
        if (_installPersisted is { } waiter && index >= _installIndex)
        {
            _installPersisted = null;
            waiter.TrySetResult();
        }
    }

    /// <summary>Adds a chunk; with the last one, steps the snapshot into the core. <paramref name="restored"/>: the index the core now restores from it.</summary>
    private bool TakeSnapshotChunk(SnapshotChunk chunk, out ulong? restored)
    {
        restored = null;
        if (_stoppedReason is not null || _raft is null || chunk.To != _id || !chunk.IsWellFormed)
        {
            return false;
        }

        LearnStore(chunk.From, chunk.SenderStore);

        if (_incomingSnapshot is null || _incomingSnapshot.TransferId != chunk.TransferId)
        {
            // A newer transfer replaces an unfinished one: only one assembly is held at a time.
            _incomingSnapshot = new IncomingSnapshot(chunk);
        }

        if (!_incomingSnapshot.Add(chunk))
        {
            return false;
        }

        if (_incomingSnapshot.IsComplete)
        {
            Message message;
            try
            {
                message = _incomingSnapshot.ToMessage();
            }
            catch (FormatException)
            {
                _incomingSnapshot = null;
                return false;
            }

            _incomingSnapshot = null;
            try
            {
                _raft.Step(message);
            }
            catch (Exception e)
            {
                Fail(e is InvalidOperationException ? "Raft invariant violated" : "unexpected failure installing a snapshot", e);
                return false;
            }

            // The core restores from it (rather than ignoring a stale one, or keeping a log that holds it).
            restored = ReferenceEquals(_raft.LatestSnapshot, message.Snapshot) ? message.Snapshot!.Index : null;
            SchedulePump();
        }

        return true;
    }

    /// <summary>Sends an InstallSnapshot message's snapshot in chunks, then tells the core how it went.</summary>
    private async Task SendSnapshotAsync(Message message)
    {
        var snapshot = message.Snapshot!;
        var data = snapshot.Data;
        var chunkBytes = _options.SnapshotChunkBytes;
        var count = Math.Max(1, (int)((data.LongLength + chunkBytes - 1) / chunkBytes));
        var config = snapshot.Metadata.Config.Encode();
        var transfer = (ulong)Random.Shared.NextInt64(1, long.MaxValue);
        var peer = PeerOf(message.To);
        var sent = peer is not null;
        for (var i = 0; i < count && sent; i++)
        {
            if (_stoppedReason is not null || _raft is not { Role: RaftRole.Leader } raft || raft.Term != message.Term)
            {
                // Leadership moved on: the transfer belongs to a leader that no longer is.
                return;
            }

            var offset = (long)i * chunkBytes;
            var part = data.AsSpan((int)offset, (int)Math.Min(chunkBytes, data.LongLength - offset)).ToArray();
            var chunk = new SnapshotChunk(_siloEndpoint, transfer, message.From, message.To, message.Term, snapshot.Index, snapshot.Term, config, data.LongLength, i, count, part, chunkBytes, _store);
            try
            {
                sent = await peer!.InstallSnapshotChunk(chunk).WaitAsync(SnapshotChunkTimeout);
            }
            catch (Exception e)
            {
                // Whatever ended the call (a timeout, a dead silo, a refusing filter), the transfer
                // failed, and the core must hear so: it would otherwise wait for it for ever.
                LogSnapshotChunkFailed(_key, message.To, i, e.Message);
                sent = false;
            }

            ReplicaMetrics.SnapshotChunksSent.Add(1);
        }

        if (sent)
        {
            // Every chunk was taken: the follower has the snapshot, whoever leads by now.
            ReplicaMetrics.SnapshotsSent.Add(1, _metricTags);
            LogSnapshotSent(_key, message.To, snapshot.Index, data.LongLength, count);
        }

        if (_stoppedReason is null && _raft is { Role: RaftRole.Leader } leader && leader.Term == message.Term)
        {
            leader.ReportSnapshot(message.To, sent);
            SchedulePump();
        }
    }

    /// <summary>A snapshot being received: chunks land at their offsets, in any order, each once.</summary>
    private sealed class IncomingSnapshot(SnapshotChunk first)
    {
        private readonly byte[] _data = new byte[first.TotalBytes];
        private readonly bool[] _received = new bool[first.ChunkCount];
        private int _missing = first.ChunkCount;

        public ulong TransferId { get; } = first.TransferId;

        public bool IsComplete => _missing == 0;

        /// <summary>Takes a chunk of this transfer; false when it does not fit it.</summary>
        public bool Add(SnapshotChunk chunk)
        {
            if (chunk.TotalBytes != first.TotalBytes || chunk.ChunkBytes != first.ChunkBytes || chunk.ChunkCount != first.ChunkCount
                || chunk.SnapshotIndex != first.SnapshotIndex || chunk.SnapshotTerm != first.SnapshotTerm || chunk.Term != first.Term || chunk.From != first.From)
            {
                return false;
            }

            chunk.Data.CopyTo(_data.AsSpan((int)((long)chunk.ChunkIndex * chunk.ChunkBytes)));
            if (!_received[chunk.ChunkIndex])
            {
                _received[chunk.ChunkIndex] = true;
                _missing--;
            }

            return true;
        }

        public Message ToMessage() => new()
        {
            Type = MessageType.InstallSnapshot,
            From = first.From,
            To = first.To,
            Term = first.Term,
            Snapshot = new Snapshot(new SnapshotMetadata(first.SnapshotIndex, first.SnapshotTerm, ClusterConfig.Decode(first.Config)), _data),
        };
    }
}

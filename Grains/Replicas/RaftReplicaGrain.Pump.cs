using ActorCluster.Grains.Interfaces.Kv;
using ActorCluster.Grains.Kv;
using ActorCluster.Grains.Raft;
using ActorCluster.Grains.Storage;

namespace ActorCluster.Grains.Replicas;

/// <summary>The ready loop: persist, then send, then apply, then advance (the core's contract).</summary>
public sealed partial class RaftReplicaGrain
{
    private void SchedulePump()
    {
        if (!_pumping && _stoppedReason is null && _raft is not null)
        {
            _pumping = true;
            _ = PumpAsync();
        }
    }

    private async Task PumpAsync()
    {
        try
        {
            // Runs on the activation's scheduler: other calls interleave only at the awaits below,
            // where the core accepts input while its ready is being written.
            while (_stoppedReason is null && _raft!.HasReady())
            {
                var ready = _raft.GetReady();
                // A leader's appends go out while its own write is under way (thesis §10.2.1).
                var early = ready.Messages.Where(m => ready.MaySendBeforePersisting(m, _persistedHardState)).ToList();
                Send(early);
                if (!ready.OnlyCommitChanged(_persistedHardState))
                {
                    var overwrites = ready.Entries.Length > 0 && ready.Snapshot is null && ready.Entries[0].Index <= _persistedLastIndex;
                    var write = new ReplicaWrite(ready.HardState, ready.Entries, ready.Snapshot, SnapshotReplacesLog: true, MayOverwrite: overwrites);
                    if (!write.IsEmpty)
                    {
                        await store.SaveAsync(_claim!, write);
                        _persistedHardState = ready.HardState ?? _persistedHardState;
                        _persistedLastIndex = ready.Entries.Length > 0 ? ready.Entries[^1].Index : ready.Snapshot?.Index ?? _persistedLastIndex;
                    }
                }

                Send(early.Count == 0 ? ready.Messages : [.. ready.Messages.Except(early)]);
                Apply(ready);
                _raft.Advance(ready);
                await MaybeSnapshotAsync();
            }
        }
        catch (ReplicaFencedException e)
        {
            // A newer activation of this replica exists: stop without answering anyone.
            Fail("fenced off by a newer activation", e);
        }
        catch (Exception e) when (_stoppedReason is null)
        {
            // Whatever the failure, the ready it interrupted can never be advanced, so the core
            // would take no more output: stop (failing every waiter) and let a new activation
            // reload from storage. Nothing that was not persisted has been acknowledged.
            Fail(e is System.Data.Common.DbException or IOException or TimeoutException ? "storage failure" : "unexpected failure in the ready loop", e);
        }
        catch (Exception)
        {
            // Stopped while the ready was in flight (the silo is going): nothing more to do.
        }
        finally
        {
            _pumping = false;
        }
    }

    private void Send(IReadOnlyList<Message> messages)
    {
        if (messages.Count == 0 || _stoppedReason is not null)
        {
            return;
        }

        // One one-way call per peer per ready, whatever the number of messages; snapshots go in chunks of their own.
        foreach (var group in messages.GroupBy(m => m.To))
        {
            var batch = group.Where(m => m.Type != MessageType.InstallSnapshot).ToList();
            if (batch.Count > 0)
            {
                var envelope = new RaftEnvelope(RaftWireCodec.Encode(batch), _siloEndpoint);
                PeerOf((int)group.Key).Deliver(envelope).Ignore();
            }

            foreach (var install in group.Where(m => m.Type == MessageType.InstallSnapshot))
            {
                SendSnapshotAsync(install).Ignore();
            }
        }
    }

    private void Apply(Ready ready)
    {
        if (ready.SoftState is { } soft)
        {
            OnRoleChanged(soft);
        }

        if (ready.Snapshot is { Index: > 0 } snapshot)
        {
            _kv.Restore(snapshot.Data);
            _appliedBytesSinceSnapshot = 0;
            ReplicaMetrics.SnapshotsInstalled.Add(1);
        }

        foreach (var entry in ready.CommittedEntries)
        {
            _appliedBytesSinceSnapshot += entry.Size;
            var response = ApplyEntry(entry);
            if (_pendingWrites.Remove(entry.Index, out var pending))
            {
                // Same term: it is our proposal. Another term: a new leader overwrote it; the
                // client's retry (same client id and sequence) will apply it at most once.
                pending.Completion.TrySetResult(entry.Term == pending.Term && response is not null
                    ? ReplicaReply.Done(response)
                    : ReplicaReply.Retry("the entry was replaced by a new leader"));
            }
        }

        if (ready.CommittedEntries.Length > 0)
        {
            ReplicaMetrics.Applied.Add(ready.CommittedEntries.Length);
            ServeReadsUpTo(_kv.AppliedIndex);
        }

        foreach (var read in ready.ReadStates)
        {
            OnReadIndex(read);
        }

        AbandonReadRoundIfLeadershipChanged();
    }

    private KvResponse? ApplyEntry(Entry entry)
    {
        if (entry.Type != EntryType.Normal || entry.Data.Length == 0)
        {
            _kv.ApplyNoop(entry.Index);
            return null;
        }

        KvCommand command;
        try
        {
            command = KvCommand.Decode(entry.Data);
        }
        catch (FormatException e)
        {
            // Every replica decodes the same bytes the same way, so skipping keeps them equal.
            LogBadEntry(_key, entry.Index, e.Message);
            _kv.ApplyNoop(entry.Index);
            return new KvResponse(KvStatus.InvalidRequest, 0, null, "undecodable command");
        }

        return _kv.Apply(entry.Index, command);
    }

    private void OnRoleChanged(SoftState soft)
    {
        LogRole(_key, soft.Role, _raft!.Term, soft.Leader);
        if (soft.Role == RaftRole.Leader)
        {
            ReplicaMetrics.LeaderChanges.Add(1);
        }
        else
        {
            // Whatever this node was waiting for as leader may still commit under the next one:
            // the outcome is unknown, so callers retry (deduplicated by client session).
            FailPending("leadership changed");
        }
    }

    private void FailPending(string reason)
    {
        foreach (var pending in _pendingWrites.Values)
        {
            pending.Completion.TrySetResult(ReplicaReply.Retry(reason));
        }

        _pendingWrites.Clear();
        FailReads(reason);
    }

    /// <summary>
    /// Snapshots and compacts once <see cref="ReplicaOptions.SnapshotEntries"/> entries or
    /// <see cref="ReplicaOptions.SnapshotBytes"/> bytes were applied since the last snapshot, keeping
    /// a tail of at most <see cref="ReplicaOptions.RetainEntries"/> entries and
    /// <see cref="ReplicaOptions.RetainBytes"/> bytes: the log in memory stays bounded in bytes
    /// whatever the values' size.
    /// </summary>
    private async Task MaybeSnapshotAsync()
    {
        var applied = _kv.AppliedIndex;
        var last = _raft!.LatestSnapshot?.Index ?? 0;
        if (applied - last < (ulong)_options.SnapshotEntries && _appliedBytesSinceSnapshot < _options.SnapshotBytes)
        {
            return;
        }

        var data = _kv.CreateSnapshot();
        if (!_raft.CreateSnapshot(applied, data))
        {
            return;
        }

        _appliedBytesSinceSnapshot = 0;
        // Storage keeps only what follows the snapshot; memory keeps a tail for lagging followers.
        await store.SaveAsync(_claim!, new ReplicaWrite(null, [], _raft.LatestSnapshot, SnapshotReplacesLog: false));
        var compactTo = _raft.CompactionPoint(applied, _options.RetainEntries, _options.RetainBytes);
        if (compactTo >= _raft.FirstIndex)
        {
            _raft.Compact(compactTo);
        }

        ReplicaMetrics.SnapshotsTaken.Add(1);
        LogSnapshot(_key, applied, data.Length);
    }
}

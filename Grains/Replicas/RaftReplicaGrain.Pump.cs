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
        if (!_pumping && !_batching && _stoppedReason is null && _raft is not null)
        {
            _pumping = true;
            // The pump serves every caller, not the one whose call started it: it runs outside the
            // caller's span, so that its sends are not counted in that caller's trace.
            var caller = System.Diagnostics.Activity.Current;
            System.Diagnostics.Activity.Current = null;
            _ = PumpAsync();
            System.Diagnostics.Activity.Current = caller;
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
                        if (_markInitialized)
                        {
                            // From now on, finding this replica's state empty means it was lost.
                            await store.MarkInitializedAsync(_key);
                            _markInitialized = false;
                        }

                        _persistedHardState = ready.HardState ?? _persistedHardState;
                        _persistedLastIndex = ready.Entries.Length > 0 ? ready.Entries[^1].Index : ready.Snapshot?.Index ?? _persistedLastIndex;
                        EndAppendSpans(_persistedLastIndex);
                    }
                }

                Send(early.Count == 0 ? ready.Messages : [.. ready.Messages.Except(early)]);
                Apply(ready);
                _raft.Advance(ready);
                if (ready.Snapshot is { } installed)
                {
                    // The leader's last chunk call waits for this: the snapshot is durable now.
                    OnSnapshotInstalled(installed.Index);
                }

                MaybeSnapshot();
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
            AdjustTimer();
            PublishGauges();
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
                if (PeerOf(group.Key, onlyLive: true) is { } peer)
                {
                    var replicate = ReplicateSpan(batch, group.Key);
                    var envelope = new RaftEnvelope(RaftWireCodec.Encode(batch), _siloEndpoint, _store, replicate?.Id);
                    ReplicaMetrics.MessageBatches.Add(1, new KeyValuePair<string, object?>("store", _storeHex));
                    peer.Deliver(envelope).Ignore();
                    Tracing.StopDetached(replicate);
                }
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
            ReplicaMetrics.SnapshotsInstalled.Add(1, _metricTags);
        }

        foreach (var entry in ready.CommittedEntries)
        {
            _appliedBytesSinceSnapshot += entry.Size;
            _pendingWrites.Remove(entry.Index, out var pending);
            var response = ApplyTraced(entry, pending);
            if (pending is not null)
            {
                // Same term: it is our proposal. Another term: a new leader overwrote it; the
                // client's retry (same client id and sequence) will apply it at most once.
                var ours = entry.Term == pending.Term && response is not null;
                pending.Completion.TrySetResult(ours
                    ? ReplicaReply.Done(response!, Members)
                    : ReplicaReply.Retry("the entry was replaced by a new leader"));
                if (ours)
                {
                    ReplicaMetrics.CommitLatency.Record(System.Diagnostics.Stopwatch.GetElapsedTime(pending.Proposed).TotalSeconds, _metricTags);
                    if (pending.Span is { } span)
                    {
                        RememberAnsweredTrace(entry.Index, span);
                    }
                }

                Tracing.StopDetached(pending.Span, ours ? null : "replaced by a new leader");
            }
        }

        if (ready.CommittedEntries.Length > 0)
        {
            ReplicaMetrics.Applied.Add(ready.CommittedEntries.Length, _metricTags);
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
        if (soft.Leader != RaftNode.None && (soft.Leader, _raft.Term) != _knownLeader)
        {
            // A new leader, or the same one elected again in a later term.
            _leaderSince = DateTime.UtcNow;
        }

        _knownLeader = (soft.Leader, _raft.Term);
        if (soft.Role == RaftRole.Leader)
        {
            ReplicaMetrics.LeaderChanges.Add(1, _metricTags);
            _inactiveSince.Clear();
        }
        else
        {
            // Whatever this node was waiting for as leader may still commit under the next one:
            // the outcome is unknown, so callers retry (deduplicated by client session).
            FailPending("leadership changed");
            _answeredTraces.Clear();
        }
    }

    private void FailPending(string reason)
    {
        foreach (var pending in _pendingWrites.Values)
        {
            pending.Completion.TrySetResult(ReplicaReply.Retry(reason));
            Tracing.StopDetached(pending.Span, reason);
        }

        _pendingWrites.Clear();
        FailReads(reason);
    }

    /// <summary>
    /// Snapshots once <see cref="ReplicaOptions.SnapshotEntries"/> entries or
    /// <see cref="ReplicaOptions.SnapshotBytes"/> bytes were applied since the last snapshot, and
    /// compacts the log in memory at once, keeping a tail of at most
    /// <see cref="ReplicaOptions.RetainEntries"/> entries and <see cref="ReplicaOptions.RetainBytes"/>
    /// bytes: the log stays bounded in bytes whatever the values' size. That is safe before the
    /// snapshot is stored: the entries it covers stay on disk until it is, and a replica that
    /// restarts meanwhile loads the older snapshot and those entries. The snapshot is saved in the
    /// background, so the ready loop goes on (heartbeats, appends, answers) while a large one is
    /// written. One save at a time; a replica that falls behind saves the newest one next.
    /// </summary>
    private void MaybeSnapshot()
    {
        var applied = _kv.AppliedIndex;
        var last = _raft!.LatestSnapshot?.Index ?? 0;
        if (applied - last < (ulong)_options.SnapshotEntries && _appliedBytesSinceSnapshot < _options.SnapshotBytes)
        {
            return;
        }

        if (_snapshotSave is { IsCompleted: false })
        {
            // The previous one is still being written; this one waits (the log stays in memory meanwhile).
            return;
        }

        var data = _kv.CreateSnapshot();
        if (!_raft.CreateSnapshot(applied, data))
        {
            return;
        }

        _appliedBytesSinceSnapshot = 0;
        var compactTo = _raft.CompactionPoint(applied, _options.RetainEntries, _options.RetainBytes);
        if (compactTo >= _raft.FirstIndex)
        {
            _raft.Compact(compactTo);
        }

        _snapshotSave = SaveSnapshotAsync(_raft.LatestSnapshot!);
    }

    private async Task SaveSnapshotAsync(Snapshot snapshot)
    {
        try
        {
            // Storage keeps only what follows the snapshot.
            await store.SaveAsync(_claim!, new ReplicaWrite(null, [], snapshot, SnapshotReplacesLog: false));
            ReplicaMetrics.SnapshotsTaken.Add(1);
            LogSnapshot(_key, snapshot.Index, snapshot.Data.Length);
        }
        catch (ReplicaFencedException e)
        {
            Fail("fenced off by a newer activation", e);
        }
        catch (Exception e) when (_stoppedReason is null)
        {
            // The log is still whole on disk; but storage is failing: reload from it.
            Fail("could not save a snapshot", e);
        }
        catch (Exception)
        {
            // Stopped meanwhile.
        }
    }
}

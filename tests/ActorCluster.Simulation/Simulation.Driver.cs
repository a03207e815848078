using System.Buffers.Binary;
using ActorCluster.Grains.Raft;

namespace ActorCluster.Simulation;

/// <summary>The driver every node runs: persist, send, apply, advance — and crash and restart.</summary>
public sealed partial class Simulation
{
    private void ProcessReadies(SimNode node, bool allowAsync)
    {
        while (node.Raft is { } raft && node.Persisting is null && raft.HasReady())
        {
            var ready = raft.GetReady();
            if (ready.SoftState is { Role: RaftRole.Leader })
            {
                _stats.Elections++;
            }

            if (_options.SendBeforePersisting)
            {
                foreach (var message in ready.Messages)
                {
                    if (ready.MaySendBeforePersisting(message, node.Disk.HardState))
                    {
                        node.SentEarly.Add(message);
                        Send(message);
                    }
                }
            }

            if (allowAsync && ready.MustSync && !(_options.SkipCommitOnlyWrites && ready.OnlyCommitChanged(node.Disk.HardState)))
            {
                // The write takes a while; the node keeps ticking and stepping meanwhile.
                node.Persisting = ready;
                Schedule(_now + 1 + _rng.Next(8), new SimEvent(SimEventKind.DiskDone, node.Id, node.Incarnation, null));
                return;
            }

            CompleteReady(node, ready);
        }
    }

    private void CompleteReady(SimNode node, Ready ready)
    {
        CheckPersist(node, ready);
        var skipHardState = _options.SkipCommitOnlyWrites && ready.OnlyCommitChanged(node.Disk.HardState);
        if (node.Disk.Persist(ready, skipHardState) is { } contractError)
        {
            Violation($"n{node.Id} ready contract: {contractError}");
            return;
        }

        foreach (var message in ready.Messages)
        {
            if (!node.SentEarly.Remove(message))
            {
                Send(message);
            }
        }

        node.SentEarly.Clear();

        if (ready.Snapshot is { } snapshot)
        {
            CheckSnapshotRestore(node, snapshot);
            node.RestoreStateMachine(snapshot);
            if (snapshot.Index > 0)
            {
                _stats.SnapshotsInstalled++;
            }
        }

        foreach (var entry in ready.CommittedEntries)
        {
            Apply(node, entry);
        }

        foreach (var read in ready.ReadStates)
        {
            CheckReadState(node, read);
            if (read.Context == node.ReadInFlight)
            {
                node.ReadInFlight = 0;
            }
        }

        var raft = node.Raft!;
        raft.Advance(ready);
        if (node.ReadInFlight != 0 && (raft.Role != RaftRole.Leader || raft.Term != node.ReadTerm))
        {
            // The core drops pending reads when leadership changes; the grain fails its round then.
            Trace(42, node.Id, node.ReadInFlight, () => $"n{node.Id} abandons read round {node.ReadInFlight}");
            _pendingReads.Remove(node.ReadInFlight);
            node.ReadInFlight = 0;
        }
    }

    private void UpdateLiveness() =>
        _livenessReached = _commitLivenessReached && (!_options.SerialReads || _readLivenessReached);

    private void Apply(SimNode node, Entry entry)
    {
        CheckApply(node, entry);
        node.AppliedIndex = entry.Index;
        node.AppliedHash = Fnv.Mix(node.AppliedHash, Fnv.Hash(entry.Data));
        if (entry.Type == EntryType.Normal && entry.Data.Length >= 8)
        {
            var command = BinaryPrimitives.ReadUInt64LittleEndian(entry.Data);
            if (_proposals.TryGetValue(command, out var proposal) && proposal.Node == node.Id && proposal.Index == entry.Index)
            {
                if (proposal.Term == entry.Term)
                {
                    _stats.Acknowledged++;
                    if (command >= _firstLivenessCommand)
                    {
                        if (_lateRestart is { } late && !_commitLivenessReached && _now / _options.UnitsPerTick >= late.Tick)
                        {
                            Violation($"liveness: nothing committed until the quiesced leader n{late.Node} came back: its followers were not woken, or woke and did not elect");
                        }

                        _commitLivenessReached = true;
                        UpdateLiveness();
                    }
                }

                _proposals.Remove(command);
            }
        }
    }

    private void Crash(SimNode node, bool decommission)
    {
        if (!node.IsUp)
        {
            return;
        }

        // A crash during a write either loses it or lands it without any of its messages.
        if (node.Persisting is { } ready && _rng.Chance(0.5))
        {
            CheckPersist(node, ready);
            node.Disk.Persist(ready);
        }

        Trace(10, node.Id, decommission ? 1UL : 0, () => $"crash n{node.Id}{(decommission ? " (decommissioned)" : string.Empty)}");
        node.Raft = null;
        node.Persisting = null;
        node.SentEarly.Clear();
        node.ReadInFlight = 0;
        node.Incarnation++;
        node.Decommissioned |= decommission;
        _stats.Crashes += decommission ? 0 : 1;
    }

    private void Restart(SimNode node)
    {
        if (node.IsUp || node.Decommissioned)
        {
            return;
        }

        if (node.Lost && !_options.AmnesiaRestarts)
        {
            // No state for an id the group still names: it stays silent until it is replaced.
            return;
        }

        Trace(11, node.Id, 0, () => $"restart n{node.Id}");
        if (node.Lost)
        {
            // The broken rule: missing state is taken for a new replica, which bootstraps as a
            // founder (or starts empty) and votes and acknowledges with nothing stored.
            node.Lost = false;
            node.AppliedIndex = 0;
            node.AppliedHash = 0;
            node.Raft = node.Id <= (ulong)_options.Nodes
                ? RaftNode.Bootstrap(NodeOptions(node.Id), ClusterConfig.OfVoters([.. Enumerable.Range(1, _options.Nodes).Select(i => (ulong)i)]))
                : RaftNode.Start(NodeOptions(node.Id), RaftStorageState.Empty);
            node.SeenCommit = node.Raft.CommitIndex;
            ScheduleTick(node);
            ProcessReadies(node, allowAsync: false);
            return;
        }

        var storage = node.Disk.Load();
        node.AppliedIndex = 0;
        node.AppliedHash = 0;
        if (storage.Snapshot is { } snapshot)
        {
            node.RestoreStateMachine(snapshot);
        }

        node.Raft = RaftNode.Start(NodeOptions(node.Id), storage);
        node.SeenCommit = node.Raft.CommitIndex;
        ScheduleTick(node);
        ProcessReadies(node, _options.AsyncDisk);
    }

    /// <summary>The application takes a snapshot of what it applied and compacts the log behind it.</summary>
    private void TakeSnapshot(SimNode node)
    {
        var raft = node.Raft!;
        var index = node.AppliedIndex;
        if (index == 0 || !raft.CreateSnapshot(index, node.EncodeStateMachine()))
        {
            return;
        }

        node.Disk.SaveSnapshot(raft.LatestSnapshot!);
        var retain = (ulong)_rng.Next(20);
        var compactTo = index > retain ? index - retain : 0;
        if (compactTo >= raft.FirstIndex)
        {
            raft.Compact(compactTo);
        }

        Trace(12, node.Id, index, () => $"snapshot n{node.Id} at {index}, compact to {compactTo}");
    }
}

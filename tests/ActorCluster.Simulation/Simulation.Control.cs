using System.Buffers.Binary;
using ActorCluster.Grains.Raft;

namespace ActorCluster.Simulation;

/// <summary>Once per tick: the nemesis (faults, membership, transfers, snapshots) and the clients.</summary>
public sealed partial class Simulation
{
    private readonly Dictionary<ulong, (ulong Node, ulong Term, ulong Index)> _proposals = [];
    private readonly Dictionary<ulong, ulong> _pendingReads = [];
    private readonly List<(long Until, ulong Node)> _downUntil = [];
    private (int Tick, ulong Node)? _lateRestart;
    private long _partitionUntil;
    private ulong _nextCommand = 1;
    private ulong _nextReadContext = 1;
    private ulong _firstLivenessCommand = ulong.MaxValue;
    private ulong _firstLivenessRead = ulong.MaxValue;
    private bool _livenessReached;
    private bool _commitLivenessReached;
    private bool _readLivenessReached;

    private void Control(int tick)
    {
        if (tick == _options.FaultTicks + 1)
        {
            StopFaults();
        }

        if (_faultsActive)
        {
            Nemesis(tick);
        }
        else
        {
            // An operator shuts down members being removed: one that is no longer sent heartbeats
            // keeps campaigning and, without check-quorum's lease, disrupts the group (thesis §4.2.3).
            DecommissionRemoved(CurrentLeader(), probability: 1, evenIfUncommitted: true);
        }

        ReplaceLost(CurrentLeader(), _faultsActive ? 0.1 : 1);
        if (_options.Quiesce)
        {
            WakeFollowersOfSuspectedLeaders();
        }

        if (_lateRestart is { } late && tick == late.Tick)
        {
            Trace(44, late.Node, 0, () => $"n{late.Node} (the quiesced leader) comes back");
            Restart(_nodes[late.Node]);
        }

        if (_options.Quiesce && _faultsActive && ((tick / 30) % 2 == 1 || tick > _options.FaultTicks - 30))
        {
            // Quiet spells: every other 30 ticks, and the last 30 before faults stop, the clients
            // pause, so that groups quiesce and faults hit them quiesced.
            return;
        }

        Clients();
    }

    /// <summary>
    /// The silo liveness signal: a quiesced follower whose leader is down, or cannot reach it, is
    /// woken with the time since it last heard from that leader, as the replica's driver does.
    /// </summary>
    private void WakeFollowersOfSuspectedLeaders()
    {
        foreach (var node in _nodes.Values)
        {
            if (node.Raft is not { Quiesced: true, Role: RaftRole.Follower, Leader: var leader and not RaftNode.None } raft)
            {
                continue;
            }

            var suspected = !_nodes.TryGetValue(leader, out var lead) || !lead.IsUp || _blockedLinks.Contains((leader, node.Id));
            if (!suspected)
            {
                continue;
            }

            var since = _lastHeard.TryGetValue((node.Id, leader), out var at) ? _now - at : _now;
            var ticks = (int)Math.Min(int.MaxValue, since / _options.UnitsPerTick);
            _stats.QuiescedWakes++;
            Trace(43, node.Id, leader, () => $"n{node.Id} woken: leader n{leader} suspected, last heard {ticks} ticks ago");
            raft.Unquiesce(ticks);
            ProcessReadies(node, _options.AsyncDisk);
        }
    }

    private void StopFaults()
    {
        Trace(30, 0, 0, () => "faults stop: heal, restart all, reliable network");
        _faultsActive = false;
        _blockedLinks.Clear();
        _dropRate = 0;
        _duplicateRate = 0;
        foreach (var node in _nodes.Values)
        {
            Restart(node);
        }

        _downUntil.Clear();
        if (_options.Quiesce && CurrentLeader() is { Raft.Quiesced: true } quiesced
            && quiesced.Raft!.Config.Voters.Count(v => v != quiesced.Id && _nodes.TryGetValue(v, out var n) && n.Raft is { Quiesced: true }) >= (quiesced.Raft.Config.Voters.Count / 2) + 1
            && _nodes.Values.All(n => n == quiesced || n.Raft is null || n.Raft.Quiesced))
        {
            // The quiesced leader's silo dies as faults stop and comes back only after the
            // liveness phase could have been reached without it: the followers must have been
            // woken by the liveness signal, since nobody else talks to them.
            Crash(quiesced, decommission: false);
            // Twelve election timeouts: the woken followers first ask the dead leader (a grace of
            // a few heartbeats), and with only a bare majority left, split votes can repeat.
            _lateRestart = (_options.FaultTicks + 1 + (12 * _options.ElectionTicks), quiesced.Id);
            _stats.QuiescedLeaderKills++;
            Trace(45, quiesced.Id, 0, () => $"n{quiesced.Id}, the quiesced leader, crashes as faults stop");
        }

        _firstLivenessCommand = _nextCommand;
        _firstLivenessRead = _nextReadContext;
    }

    private void Nemesis(int tick)
    {
        var live = _nodes.Values.Where(n => n.IsUp).ToList();
        var leader = CurrentLeader();

        // Restart nodes whose downtime is over.
        for (var i = _downUntil.Count - 1; i >= 0; i--)
        {
            if (_downUntil[i].Until <= tick)
            {
                Restart(_nodes[_downUntil[i].Node]);
                _downUntil.RemoveAt(i);
            }
        }

        if (_options.Partitions)
        {
            if (_blockedLinks.Count > 0 && tick >= _partitionUntil)
            {
                Trace(31, 0, 0, () => "heal partition");
                _blockedLinks.Clear();
            }
            else if (_blockedLinks.Count == 0 && _rng.Chance(_options.PartitionRate))
            {
                Partition(leader);
                _partitionUntil = tick + _rng.Next(5, 60);
            }
        }

        if (_options.Crashes && _rng.Chance(_options.CrashRate) && live.Count > 0)
        {
            // Prefer the leader: it is where bugs hide.
            var victim = leader is not null && _rng.Chance(0.5) ? leader : live[_rng.Next(live.Count)];
            Crash(victim, decommission: false);
            _downUntil.Add((tick + _rng.Next(1, _options.MaxDowntimeTicks), victim.Id));
            leader = leader is { IsUp: true } ? leader : null;
        }

        if (_options.DiskLossRate > 0 && _rng.Chance(_options.DiskLossRate))
        {
            LoseDisk(leader);
            leader = leader is { IsUp: true } ? leader : null;
        }

        if (_options.Transfers && leader is not null && _rng.Chance(0.01))
        {
            var voters = leader.Raft!.Config.Voters;
            var target = voters[_rng.Next(voters.Count)];
            if (leader.Raft.TransferLeadership(target) == ProposeStatus.Accepted && target != leader.Id)
            {
                _stats.Transfers++;
                Trace(32, leader.Id, target, () => $"transfer n{leader.Id} -> n{target}");
                ProcessReadies(leader, _options.AsyncDisk);
            }
        }

        if (_options.MembershipChanges && leader is not null && _rng.Chance(0.02))
        {
            ChangeMembership(leader);
        }

        if (_options.Snapshots)
        {
            foreach (var node in live)
            {
                if (node.IsUp && _rng.Chance(0.01))
                {
                    TakeSnapshot(node);
                }
            }
        }

        DecommissionRemoved(leader, probability: 0.2, evenIfUncommitted: false);
    }

    /// <summary>
    /// A member's disk is lost: it crashes (if up) and everything it stored is gone. It comes back
    /// under its old id, which its group still names; only one member is without its disk at a time,
    /// and only while the leader's configuration is committed and every member's newest one has at
    /// least three voters (one lost disk is then one failure, which the group must survive; a
    /// deposed leader's view alone can be out of date).
    /// </summary>
    private void LoseDisk(SimNode? leader)
    {
        if (leader?.Raft is not { } raft || raft.Config.Voters.Count < 3 || raft.CommitIndex + 1 < raft.FirstIndex
            || !raft.ConfigAt(raft.CommitIndex).Equals(raft.Config) || _nodes.Values.Any(n => n.Lost && !n.Decommissioned)
            || _nodes.Values.Any(n => n.Raft is { } r && r.Config.Contains(n.Id) && r.Config.Voters.Count < 3))
        {
            return;
        }

        var members = raft.Config.Members.Where(id => _nodes.TryGetValue(id, out var n) && !n.Decommissioned).ToList();
        var victim = _nodes[members[_rng.Next(members.Count)]];
        Crash(victim, decommission: false);
        victim.Disk = new SimDisk();
        victim.Lost = true;
        _stats.DiskLosses++;
        Trace(13, victim.Id, 0, () => $"n{victim.Id} loses its disk");
        _downUntil.RemoveAll(d => d.Node == victim.Id);
        _downUntil.Add((_now / _options.UnitsPerTick + _rng.Next(1, _options.MaxDowntimeTicks), victim.Id));
    }

    /// <summary>
    /// The group replaces a member that lost its disk (it reported itself): the leader removes its
    /// id; new members join under new ids through the ordinary membership changes.
    /// </summary>
    private void ReplaceLost(SimNode? leader, double probability)
    {
        if (leader?.Raft is not { } raft)
        {
            return;
        }

        foreach (var node in _nodes.Values)
        {
            if (node.Lost && !node.Decommissioned && !raft.Config.Contains(node.Id) && raft.CommitIndex + 1 >= raft.FirstIndex
                && !raft.ConfigAt(raft.CommitIndex).Contains(node.Id))
            {
                // Its removal is committed: it is gone for good (and another disk may be lost).
                node.Decommissioned = true;
                continue;
            }

            if (node.Lost && !node.Decommissioned && raft.Config.Contains(node.Id) && _rng.Chance(probability))
            {
                var result = raft.ProposeConfChange(new ConfChange(ConfChangeType.RemoveNode, node.Id));
                Trace(38, leader.Id, (ulong)result.Status, () => $"n{leader.Id} replaces n{node.Id}, which lost its disk: {result.Status}");
                if (result.IsAccepted)
                {
                    _stats.ConfChanges++;
                    ProcessReadies(leader, _options.AsyncDisk);
                }

                return;
            }
        }
    }

    private void Partition(SimNode? leader)
    {
        var ids = _nodes.Values.Where(n => !n.Decommissioned).Select(n => n.Id).ToList();
        var kind = _rng.Next(4);
        _stats.Partitions++;
        switch (kind)
        {
            case 0 when leader is not null:
                // Isolate the leader completely.
                foreach (var other in ids.Where(id => id != leader.Id))
                {
                    Block(leader.Id, other);
                    Block(other, leader.Id);
                }

                Trace(33, leader.Id, 0, () => $"isolate leader n{leader.Id}");
                break;
            case 1:
                // Asymmetric: some links lose one direction only.
                foreach (var a in ids)
                {
                    foreach (var b in ids)
                    {
                        if (a != b && _rng.Chance(0.3))
                        {
                            Block(a, b);
                        }
                    }
                }

                Trace(34, 0, (ulong)_blockedLinks.Count, () => $"asymmetric partition {string.Join(' ', _blockedLinks.Select(l => $"{l.From}->{l.To}"))}");
                break;
            case 2:
                // Bridge: two halves that both reach one node in the middle.
                var shuffled = ids.OrderBy(_ => _rng.NextUInt64()).ToList();
                var bridge = shuffled[0];
                var half = shuffled.Skip(1).Take((shuffled.Count - 1) / 2).ToHashSet();
                foreach (var a in shuffled.Skip(1))
                {
                    foreach (var b in shuffled.Skip(1))
                    {
                        if (half.Contains(a) != half.Contains(b))
                        {
                            Block(a, b);
                        }
                    }
                }

                Trace(35, bridge, 0, () => $"bridge partition via n{bridge}");
                break;
            default:
                // Majority / minority split.
                var side = ids.Where(_ => _rng.Chance(0.5)).ToHashSet();
                foreach (var a in ids)
                {
                    foreach (var b in ids)
                    {
                        if (side.Contains(a) != side.Contains(b))
                        {
                            Block(a, b);
                        }
                    }
                }

                Trace(36, 0, (ulong)side.Count, () => $"split {{{string.Join(',', side)}}} from the rest");
                break;
        }
    }

    private void Block(ulong from, ulong to) => _blockedLinks.Add((from, to));

    private void ChangeMembership(SimNode leader)
    {
        var raft = leader.Raft!;
        var config = raft.Config;
        var members = _nodes.Values.Count(n => !n.Decommissioned);
        var choice = _rng.Next(3);
        ConfChange change;
        if (choice == 0 && members < _options.MaxMembers)
        {
            change = new ConfChange(ConfChangeType.AddLearner, _nextNodeId);
        }
        else if (choice == 1 && config.Learners.Count > 0)
        {
            change = new ConfChange(ConfChangeType.AddVoter, config.Learners[_rng.Next(config.Learners.Count)]);
        }
        else if ((config.Voters.Count > 1 || config.Learners.Count > 0) && !config.Members.Any(id => _nodes.TryGetValue(id, out var n) && n.Lost))
        {
            // While a member that lost its disk is still named, it is the one to remove (as a
            // replica checker does): removing a healthy voter then could leave no live quorum.
            var candidates = config.Members.ToList();
            change = new ConfChange(ConfChangeType.RemoveNode, candidates[_rng.Next(candidates.Count)]);
            if (config.Voters.Count <= 2 && config.IsVoter(change.NodeId))
            {
                return;
            }
        }
        else
        {
            return;
        }

        var result = raft.ProposeConfChange(change);
        Trace(37, leader.Id, (ulong)result.Status, () => $"n{leader.Id} proposes {change}: {result.Status}");
        if (!result.IsAccepted)
        {
            return;
        }

        _stats.ConfChanges++;
        if (change.Type == ConfChangeType.AddLearner)
        {
            var joiner = new SimNode(_nextNodeId++);
            _nodes[joiner.Id] = joiner;
            joiner.Raft = RaftNode.Start(NodeOptions(joiner.Id), RaftStorageState.Empty);
            ScheduleTick(joiner);
        }

        ProcessReadies(leader, _options.AsyncDisk);
    }

    /// <summary>
    /// Shuts down nodes that are in neither the leader's committed nor its latest configuration
    /// (removed, or added by an entry that was overwritten). Some linger first, to show that a
    /// removed node that keeps running does no harm.
    /// </summary>
    private SimNode? CurrentLeader() =>
        _nodes.Values.FirstOrDefault(n => n.Raft is { Role: RaftRole.Leader } raft && raft.Config.IsVoter(n.Id));

    private void DecommissionRemoved(SimNode? leader, double probability, bool evenIfUncommitted)
    {
        if (leader?.Raft is not { } raft || raft.CommitIndex + 1 < raft.FirstIndex)
        {
            return;
        }

        var committed = raft.ConfigAt(raft.CommitIndex);
        foreach (var node in _nodes.Values)
        {
            var removed = !raft.Config.Contains(node.Id) && (evenIfUncommitted || !committed.Contains(node.Id));
            if (!node.Decommissioned && removed && _rng.Chance(probability))
            {
                Crash(node, decommission: true);
            }
        }
    }

    private void Clients()
    {
        var live = _nodes.Values.Where(n => n.IsUp).ToList();
        if (live.Count == 0)
        {
            return;
        }

        var proposals = _faultsActive ? _rng.Next(3) : 1;
        for (var i = 0; i < proposals; i++)
        {
            var node = live[_rng.Next(live.Count)];
            Propose(node, redirect: true);
        }

        if (_options.LeaseReads)
        {
            LeaderReads(live);
        }

        if (_options.SerialReads)
        {
            SerialReads(live);
        }
        else if (_rng.Chance(0.2))
        {
            var reader = live[_rng.Next(live.Count)];
            var context = _nextReadContext++;
            if (reader.Raft!.ReadIndex(context) == ProposeStatus.Accepted)
            {
                _pendingReads[context] = _maxCommitSeen;
                ProcessReadies(reader, _options.AsyncDisk);
            }
        }
    }

    /// <summary>
    /// Every node that calls itself leader — a deposed one too, until it learns otherwise — reads
    /// at every control step: where a lease is wrong, the read it answers is stale.
    /// </summary>
    private void LeaderReads(List<SimNode> live)
    {
        foreach (var node in live)
        {
            if (node.Raft is not { Role: RaftRole.Leader } raft)
            {
                continue;
            }

            var context = _nextReadContext++;
            if (raft.LeaseReadIndex() is not null)
            {
                _stats.LeaseReads++;
            }

            if (raft.ReadIndex(context) == ProposeStatus.Accepted)
            {
                _pendingReads[context] = _maxCommitSeen;
                ProcessReadies(node, _options.AsyncDisk);
            }
        }
    }

    /// <summary>Each leader keeps at most one read round going, as the replica grain does.</summary>
    private void SerialReads(List<SimNode> live)
    {
        foreach (var node in live)
        {
            if (node.Raft is not { Role: RaftRole.Leader } raft || node.ReadInFlight != 0 || !_rng.Chance(0.5))
            {
                continue;
            }

            var context = _nextReadContext++;
            if (raft.ReadIndex(context) == ProposeStatus.Accepted)
            {
                _pendingReads[context] = _maxCommitSeen;
                node.ReadInFlight = context;
                node.ReadTerm = raft.Term;
                Trace(41, node.Id, context, () => $"n{node.Id} starts read round {context}");
                ProcessReadies(node, _options.AsyncDisk);
            }
        }
    }

    private void Propose(SimNode node, bool redirect)
    {
        var raft = node.Raft!;
        var count = _rng.Next(1, 4);
        var commands = new byte[count][];
        var first = _nextCommand;
        for (var i = 0; i < count; i++)
        {
            commands[i] = new byte[8 + _rng.Next(24)];
            BinaryPrimitives.WriteUInt64LittleEndian(commands[i], _nextCommand++);
        }

        var result = raft.ProposeBatch(commands);
        if (result.IsAccepted)
        {
            _stats.Proposals += count;
            for (var i = 0; i < count; i++)
            {
                _proposals[first + (ulong)i] = (node.Id, result.Term, result.FirstIndex + (ulong)i);
            }

            Trace(40, node.Id, result.LastIndex, () => $"n{node.Id} accepts commands {first}..{first + (ulong)count - 1} at {result.FirstIndex}..{result.LastIndex} t{result.Term}");
            ProcessReadies(node, _options.AsyncDisk);
        }
        else if (redirect && result.Status == ProposeStatus.NotLeader && result.LeaderHint != RaftNode.None
            && _nodes.TryGetValue(result.LeaderHint, out var hinted) && hinted.IsUp)
        {
            Propose(hinted, redirect: false);
        }
    }
}

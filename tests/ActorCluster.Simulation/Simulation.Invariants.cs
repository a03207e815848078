using ActorCluster.Grains.Raft;

namespace ActorCluster.Simulation;

/// <summary>
/// The safety properties of Raft (Figure 3 of the paper), checked after every event: election
/// safety, log matching, leader completeness, state machine safety; plus commit monotonicity,
/// "apply only committed entries", "a commit is stored on a quorum", and ReadIndex linearizability.
/// </summary>
public sealed partial class Simulation
{
    // (index, term) -> (payload hash, previous entry's term), as first persisted anywhere.
    private readonly Dictionary<(ulong Index, ulong Term), (ulong DataHash, ulong PrevTerm)> _persistedEntries = [];
    private readonly Dictionary<ulong, ulong> _leaderOfTerm = [];
    // Index -> term of the committed entry there; index 0 unused.
    private readonly List<ulong> _committedTerms = [0];
    // Index -> applied hash chain after applying that index.
    private readonly List<ulong> _appliedChain = [0];
    private ulong _maxCommitSeen;
    // Index -> the configuration some node told the world was set there (encoded).
    private readonly Dictionary<ulong, byte[]> _reportedConfigs = [];

    private void CheckInvariants()
    {
        foreach (var node in _nodes.Values)
        {
            if (node.Raft is not { } raft)
            {
                continue;
            }

            ObserveCommit(node, raft);
            ObserveReportedConfig(node, raft);
        }

        CheckCommittedEntryCannotBeLost();
    }

    /// <summary>
    /// Leader completeness, looking ahead: no node that lacks the newest committed entry could
    /// collect a quorum of votes by the §5.4.1 log comparison, counting every voter of its own
    /// configuration whose durable log is not more up to date than its own. This catches a commit
    /// that a later election could undo (Figure 8) without waiting for the election to happen.
    /// </summary>
    private void CheckCommittedEntryCannotBeLost()
    {
        var commit = _maxCommitSeen;
        if (commit == 0)
        {
            return;
        }

        var committedTerm = _committedTerms[(int)commit];
        foreach (var candidate in _nodes.Values)
        {
            if (candidate.Decommissioned || HoldsEntry(candidate, commit, committedTerm))
            {
                continue;
            }

            var (lastIndex, lastTerm, config) = CandidateView(candidate);
            if (!config.IsVoter(candidate.Id))
            {
                continue;
            }

            var votes = 0;
            foreach (var voter in config.Voters)
            {
                if (!_nodes.TryGetValue(voter, out var v) || v.Lost)
                {
                    // A member without its disk never votes.
                    continue;
                }

                var voterTerm = v.Disk.TermAt(v.Disk.LastIndex) ?? 0;
                if (lastTerm > voterTerm || (lastTerm == voterTerm && lastIndex >= v.Disk.LastIndex))
                {
                    votes++;
                }
            }

            if (votes >= config.Quorum)
            {
                Violation($"committed entry ({commit}, t{committedTerm}) can be lost: n{candidate.Id} lacks it and could win {votes} of {config.Voters.Count} votes");
                return;
            }
        }
    }

    private static bool HoldsEntry(SimNode node, ulong index, ulong term)
    {
        if (node.Raft is { } raft)
        {
            return index < raft.FirstIndex || (raft.TryGetTerm(index, out var t) && t == term);
        }

        return node.Disk.Holds(index, term);
    }

    private static (ulong LastIndex, ulong LastTerm, ClusterConfig Config) CandidateView(SimNode node)
    {
        if (node.Raft is { } raft)
        {
            raft.TryGetTerm(raft.LastIndex, out var term);
            return (raft.LastIndex, term, raft.Config);
        }

        var disk = node.Disk;
        var config = disk.Config;
        return (disk.LastIndex, disk.TermAt(disk.LastIndex) ?? 0, config);
    }

    /// <summary>Checks a node's commit index; runs after every event and before every apply.</summary>
    private void ObserveCommit(SimNode node, RaftNode raft)
    {
        if (raft.Role == RaftRole.Leader)
        {
            CheckLeader(node, raft);
        }

        var commit = raft.CommitIndex;
        if (commit < node.SeenCommit)
        {
            Violation($"n{node.Id} commit index went back from {node.SeenCommit} to {commit}");
        }
        else if (commit > node.SeenCommit)
        {
            CheckNewCommits(node, raft, node.SeenCommit, commit);
            node.SeenCommit = commit;
        }
    }

    /// <summary>
    /// What a replica tells routers and the ring of its group (<see cref="RaftNode.CommittedConfig"/>)
    /// is never taken back: whatever any node reports as set at an index, every node that reports
    /// that index reports the same. Routers keep the configuration with the highest index; one that
    /// a later leader truncated would stick with them and hide members that lead.
    /// </summary>
    private void ObserveReportedConfig(SimNode node, RaftNode raft)
    {
        var (config, index) = raft.CommittedConfig;
        if (!config.Members.Any())
        {
            // A node that knows no configuration yet tells nobody anything.
            return;
        }

        var encoded = config.Encode();
        if (!_reportedConfigs.TryGetValue(index, out var seen))
        {
            _reportedConfigs[index] = encoded;
        }
        else if (!seen.AsSpan().SequenceEqual(encoded))
        {
            Violation($"n{node.Id} reports configuration {config} as set at {index}, where another was reported before");
        }
    }

    /// <summary>Election safety (§5.2) and leader completeness (§5.4).</summary>
    private void CheckLeader(SimNode node, RaftNode raft)
    {
        if (_leaderOfTerm.TryGetValue(raft.Term, out var existing))
        {
            if (existing != node.Id)
            {
                Violation($"two leaders in term {raft.Term}: n{existing} and n{node.Id}");
            }

            return;
        }

        _leaderOfTerm[raft.Term] = node.Id;
        Trace(20, node.Id, raft.Term, () => $"n{node.Id} leads term {raft.Term}");
        if (raft.LastIndex < _maxCommitSeen)
        {
            Violation($"leader n{node.Id} of term {raft.Term} lacks committed entries: last index {raft.LastIndex} < commit {_maxCommitSeen}");
            return;
        }

        for (var i = Math.Max(raft.FirstIndex, 1); i <= _maxCommitSeen; i++)
        {
            if (raft.TryGetTerm(i, out var term) && term != _committedTerms[(int)i])
            {
                Violation($"leader n{node.Id} of term {raft.Term} has term {term} at committed index {i} (committed term {_committedTerms[(int)i]})");
                return;
            }
        }
    }

    /// <summary>
    /// State machine safety: a committed index never holds two different entries. The first node
    /// to commit an index must be a leader that has it stored on a quorum of its configuration.
    /// </summary>
    private void CheckNewCommits(SimNode node, RaftNode raft, ulong from, ulong to)
    {
        for (var i = from + 1; i <= to; i++)
        {
            if (!raft.TryGetTerm(i, out var term))
            {
                continue;
            }

            if (i < (ulong)_committedTerms.Count)
            {
                if (_committedTerms[(int)i] != term)
                {
                    Violation($"n{node.Id} committed term {term} at index {i}, where term {_committedTerms[(int)i]} was committed");
                    return;
                }

                continue;
            }

            if (i != (ulong)_committedTerms.Count)
            {
                Violation($"n{node.Id} committed index {i} past the known commit frontier {_committedTerms.Count - 1}");
                return;
            }

            // Only a leader decides commits (it may have stepped down in the same event, when
            // the entry it committed removed it from the configuration).
            if (!_leaderOfTerm.TryGetValue(raft.Term, out var leaderOfTerm) || leaderOfTerm != node.Id)
            {
                Violation($"n{node.Id} ({raft.Role}, term {raft.Term}) committed index {i} before any leader did");
                return;
            }

            var config = raft.Config;
            // A member that lost its disk may have acknowledged the entry before: that copy is the
            // fault injected, not a protocol error (CheckCommittedEntryCannotBeLost checks what it
            // costs: no member lacking the entry may be able to win an election).
            var stored = config.Voters.Count(v => _nodes.TryGetValue(v, out var peer) && (peer.Disk.Holds(i, term) || peer.Lost));
            if (stored < config.Quorum)
            {
                Violation($"leader n{node.Id} committed index {i} (term {term}) stored on {stored} of {config.Voters.Count} voters");
                return;
            }

            _committedTerms.Add(term);
            _maxCommitSeen = i;
        }
    }

    /// <summary>Log matching (§5.3), checked on what reaches a disk.</summary>
    private void CheckPersist(SimNode node, Ready ready)
    {
        if (ready.Entries.Length == 0)
        {
            return;
        }

        var first = ready.Entries[0].Index;
        var prevTerm = first - 1 == (ready.Snapshot?.Index ?? ulong.MaxValue)
            ? ready.Snapshot!.Term
            : DiskTermAt(node, first - 1);
        foreach (var entry in ready.Entries)
        {
            var identity = (Fnv.Hash(entry.Data), prevTerm);
            if (_persistedEntries.TryGetValue((entry.Index, entry.Term), out var known))
            {
                var prevDiffers = prevTerm != ulong.MaxValue && known.PrevTerm != ulong.MaxValue && prevTerm != known.PrevTerm;
                if (known.DataHash != identity.Item1 || prevDiffers)
                {
                    Violation($"log matching: n{node.Id} persisted ({entry.Index}, t{entry.Term}) with payload/prev-term {identity}, elsewhere {known}");
                    return;
                }
            }
            else if (prevTerm != ulong.MaxValue)
            {
                _persistedEntries[(entry.Index, entry.Term)] = identity;
            }

            prevTerm = entry.Term;
        }
    }

    private static ulong DiskTermAt(SimNode node, ulong index)
    {
        var disk = node.Disk;
        if (disk.Snapshot is { } snapshot && index == snapshot.Index)
        {
            return snapshot.Term;
        }

        return disk.TermAt(index) ?? ulong.MaxValue;
    }

    /// <summary>Applied sequences are prefixes of one sequence, and only committed entries apply.</summary>
    private void CheckApply(SimNode node, Entry entry)
    {
        ObserveCommit(node, node.Raft!);
        if (entry.Index != node.AppliedIndex + 1)
        {
            Violation($"n{node.Id} applied index {entry.Index} after {node.AppliedIndex}");
            return;
        }

        if (entry.Index >= (ulong)_committedTerms.Count || _committedTerms[(int)entry.Index] != entry.Term)
        {
            Violation($"n{node.Id} applied ({entry.Index}, t{entry.Term}), which is not committed");
            return;
        }

        var chain = Fnv.Mix(node.AppliedHash, Fnv.Hash(entry.Data));
        if (entry.Index < (ulong)_appliedChain.Count)
        {
            if (_appliedChain[(int)entry.Index] != chain)
            {
                Violation($"n{node.Id} applied a different sequence up to index {entry.Index}");
            }
        }
        else if (entry.Index == (ulong)_appliedChain.Count)
        {
            _appliedChain.Add(chain);
        }
        else
        {
            Violation($"n{node.Id} applied index {entry.Index} beyond the applied frontier");
        }
    }

    private void CheckSnapshotRestore(SimNode node, Snapshot snapshot)
    {
        if (snapshot.Index == 0)
        {
            return;
        }

        var restored = new SimNode(node.Id);
        restored.RestoreStateMachine(snapshot);
        if (snapshot.Index >= (ulong)_appliedChain.Count || _appliedChain[(int)snapshot.Index] != restored.AppliedHash)
        {
            Violation($"n{node.Id} installed a snapshot at {snapshot.Index} whose state differs from the applied sequence");
        }
    }

    /// <summary>A read index is at least every index committed before the read was requested.</summary>
    private void CheckReadState(SimNode node, ReadState read)
    {
        if (!_pendingReads.Remove(read.Context, out var commitAtRequest))
        {
            // A duplicated request answered twice; the driver has nobody waiting for it.
            return;
        }

        _stats.ReadsCompleted++;
        if (read.Context >= _firstLivenessRead)
        {
            _readLivenessReached = true;
            UpdateLiveness();
        }

        if (read.Index < commitAtRequest)
        {
            Violation($"n{node.Id} read index {read.Index} is below the commit index {commitAtRequest} at request time (stale read)");
        }
    }
}

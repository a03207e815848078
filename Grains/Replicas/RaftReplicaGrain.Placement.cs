using ActorCluster.Grains.Raft;
using Orleans.Runtime.Placement;

namespace ActorCluster.Grains.Replicas;

/// <summary>
/// Placement reconciliation. Orleans places a grain only when it activates, so after silos join
/// or leave a replica may sit where the consistent-hash placement no longer puts it. Every few
/// seconds each replica compares its silo with its target; a misplaced leader first hands
/// leadership to a follower, a misplaced follower migrates (with a placement hint). Slots take
/// turns, so a shard moves one replica at a time and keeps its quorum.
/// </summary>
public sealed partial class RaftReplicaGrain
{
    private static readonly TimeSpan PlacementCheckPeriod = TimeSpan.FromSeconds(2);
    private DateTime _nextPlacementCheck = DateTime.UtcNow + PlacementCheckPeriod;

    private void MaybeReconcilePlacement()
    {
        var now = DateTime.UtcNow;
        if (now < _nextPlacementCheck || _raft is null || localReplicas.Stopping)
        {
            return;
        }

        _nextPlacementCheck = now + PlacementCheckPeriod;
        var turn = (int)(now.Ticks / PlacementCheckPeriod.Ticks % _replicationFactor) + 1;
        if (turn != _slot)
        {
            return;
        }

        var active = membership.CurrentSnapshot.Members.Values
            .Where(m => m.Status == SiloStatus.Active)
            .Select(m => m.SiloAddress)
            .ToArray();
        if (active.Length == 0)
        {
            return;
        }

        var target = placement.TargetOf(_shard, _slot, active);
        if (target.Equals(localSilo.SiloAddress))
        {
            if (_raft.Role == RaftRole.Leader)
            {
                MaybeHandLeadershipToPreferredSlotAsync(active).Ignore();
            }

            return;
        }

        if (_raft.Role == RaftRole.Leader)
        {
            HandLeadershipToWellPlacedFollowerAsync(active).Ignore();
            return;
        }

        // Only a follower of a healthy group moves: the others keep the quorum meanwhile.
        if (_raft.Leader == RaftNode.None || _raft.CommitIndex > _raft.AppliedIndex)
        {
            return;
        }

        LogMigrating(_key, localSilo.SiloAddress, target);
        RequestContext.Set(IPlacementDirector.PlacementHintKey, target);
        this.MigrateOnIdle();
    }

    /// <summary>
    /// Balances leaders over silos: the placement names one slot per shard as its preferred leader
    /// (balanced over the silos), and a well-placed leader in another slot hands leadership to it
    /// once that replica is up to date, responsive and itself where the placement puts it. A
    /// misplaced preferred replica is skipped: it would hand leadership straight back before
    /// moving, and while it led it would never move (only followers migrate).
    /// </summary>
    private async Task MaybeHandLeadershipToPreferredSlotAsync(SiloAddress[] active)
    {
        var preferred = placement.PreferredLeaderSlot(_shard, active);
        if (_raft is not { Role: RaftRole.Leader } raft || preferred == _slot
            || !raft.GetStatus().Progress.TryGetValue((ulong)preferred, out var progress)
            || progress.IsLearner || !progress.RecentActive || progress.Match != raft.LastIndex)
        {
            return;
        }

        await TryHandLeadershipToWellPlacedAsync(preferred, active, "balance");
    }

    /// <summary>
    /// Moves leadership away before this leader moves, but only to an up-to-date follower that
    /// already sits where it belongs: handing it to another misplaced replica would only make that
    /// one the next leader to move, and leadership would circle without anyone moving.
    /// </summary>
    private async Task HandLeadershipToWellPlacedFollowerAsync(SiloAddress[] active)
    {
        var candidates = _raft!.GetStatus().Progress
            .Where(p => !p.Value.IsLearner && p.Value.Match == _raft.LastIndex)
            .Select(p => (int)p.Key)
            .ToList();
        foreach (var slot in candidates)
        {
            if (await TryHandLeadershipToWellPlacedAsync(slot, active, "placement"))
            {
                return;
            }
        }
    }

    /// <summary>Transfers leadership to <paramref name="slot"/> if this replica still leads and that replica sits where the placement puts it.</summary>
    private async Task<bool> TryHandLeadershipToWellPlacedAsync(int slot, SiloAddress[] active, string reason)
    {
        var where = await GrainFactory.GetGrain<IManagementGrain>(0).GetActivationAddress(PeerOf(slot));
        if (where is null || !where.Equals(placement.TargetOf(_shard, slot, active)) || !IsLeader)
        {
            return false;
        }

        if (_raft!.TransferLeadership((ulong)slot) == ProposeStatus.Accepted)
        {
            ReplicaMetrics.LeadershipTransfers.Add(1, new KeyValuePair<string, object?>("reason", reason));
        }

        SchedulePump();
        return true;
    }
}

using ActorCluster.Grains.Interfaces;
using ActorCluster.Grains.Raft;
using ActorCluster.Grains.Ring;

namespace ActorCluster.Grains.Replicas;

/// <summary>
/// Replica reconciliation, run by each shard's leader every couple of seconds: it compares its
/// configuration with the consistent-hash placement over the live stores and takes one membership
/// step (see <see cref="ReplicaPlanner"/>) — replace a replica whose store has been missing past the
/// grace period or whose state is lost, move one toward its place once the live stores have
/// settled, promote a caught-up learner, balance leaders. A new replica is created on its store
/// first (with the configuration's next id) and added as a learner; Raft catches it up. A replica
/// that finds its own removal committed tombstones itself.
/// </summary>
public sealed partial class RaftReplicaGrain
{
    private static readonly TimeSpan ReconcilePeriod = TimeSpan.FromSeconds(2);
    private static readonly TimeSpan TombstoneDelay = TimeSpan.FromSeconds(2);
    private DateTime _nextReconcile = DateTime.UtcNow + ReconcilePeriod + TimeSpan.FromMilliseconds(Random.Shared.Next(2000));
    private DateTime? _removedAt;
    private readonly Dictionary<ulong, DateTime> _inactiveSince = [];
    private readonly Dictionary<ulong, ulong> _removing = [];
    private bool _reconciling;
    private ulong _reportedConfigIndex;
    private bool _checkingRemoval;
    private DateTime _nextRemovalCheck;

    private void MaybeReconcile()
    {
        var now = DateTime.UtcNow;
        if (_raft is not { } raft || localReplicas.Stopping || now < _nextReconcile)
        {
            return;
        }

        _nextReconcile = now + ReconcilePeriod;
        if (raft.CommitIndex + 1 >= raft.FirstIndex && raft.ConfigAt(raft.CommitIndex).IsRemoved(_id))
        {
            // Removed for good (the removal is committed). A removed leader first hands over (the
            // core does that on commit); then the replica deletes its state and leaves a tombstone.
            _removedAt ??= now;
            if (now - _removedAt >= TombstoneDelay && raft.Role != RaftRole.Leader)
            {
                TombstoneAsync().Ignore();
            }

            return;
        }

        if (raft.Role == RaftRole.Leader && !_reconciling)
        {
            _reconciling = true;
            ReconcileAsync().Ignore();
        }
        else if (raft.Role != RaftRole.Leader)
        {
            MaybeCheckRemoval(raft, now);
        }
    }

    /// <summary>
    /// How long a replica goes without a word from a leader before it asks the ring whether it is
    /// still a member: twenty election timeouts (10 s with the defaults), at least 2 s.
    /// </summary>
    private TimeSpan RemovalSuspicion => TimeSpan.FromTicks(Math.Max(TimeSpan.FromSeconds(2).Ticks, _options.Tick.Ticks * _options.ElectionTicks * 20));

    /// <summary>
    /// How long a replica goes without a word from a leader before it asks the ring whether it is
    /// still a member. A quiesced follower that knows its leader hears nothing while the group is
    /// idle, so it asks thirty times less often (every 5 minutes with the defaults): rarely, since
    /// every idle follower asks, but not never, or a follower whose removal notices were both lost
    /// would keep its replica for as long as that leader lives.
    /// </summary>
    internal static TimeSpan RemovalSuspicionFor(bool quiescedWithLeader, TimeSpan awake) => quiescedWithLeader ? awake * 30 : awake;

    /// <summary>
    /// A replica that hears from no leader for its removal suspicion (see
    /// <see cref="RemovalSuspicionFor"/>), or that has never been given a configuration, may
    /// have been removed while it could not hear it: its leader stops sending to a member the moment
    /// it appends the removal, its peers drop its messages, and the removal notice is best-effort
    /// (its store may have been down). It asks the ring for the group's newest committed
    /// configuration, and tombstones itself if that configuration has used its id and does not
    /// have it on this store (ids are never reused). Otherwise it asks again later. A replica
    /// created for an addition that never happened goes the same way once the group has given its
    /// id to another replica.
    /// </summary>
    private void MaybeCheckRemoval(RaftNode raft, DateTime now)
    {
        var suspicion = RemovalSuspicionFor(raft.Quiesced && raft.Leader != RaftNode.None, RemovalSuspicion);
        if (_checkingRemoval || now < _nextRemovalCheck || System.Diagnostics.Stopwatch.GetElapsedTime(_lastLeaderContact) < suspicion)
        {
            return;
        }

        _nextRemovalCheck = now + suspicion + TimeSpan.FromMilliseconds(Random.Shared.Next(1000));
        _checkingRemoval = true;
        CheckRemovedAsync().Ignore();
    }

    private async Task CheckRemovedAsync()
    {
        try
        {
            var recorded = await GrainFactory.GetGrain<IRingGrain>(IRingGrain.DefaultKey).GetMembers(_shard).WaitAsync(TimeSpan.FromSeconds(5));
            if (recorded is not null && recorded.Excludes(_id, _store) && _raft is { Role: not RaftRole.Leader } && _stoppedReason is null)
            {
                LogRemovedPerRing(_key, recorded.ConfigIndex, recorded.NextId);
                await TombstoneAsync();
            }
        }
        catch (Exception e) when (e is TimeoutException or OrleansException)
        {
            // The ring is out of reach: asked again later.
        }
        finally
        {
            _checkingRemoval = false;
        }
    }

    public Task Removed() => TombstoneAsync();

    private async Task TombstoneAsync()
    {
        if (_claim is not { } claim || _stoppedReason is not null)
        {
            return;
        }

        LogTombstoned(_key);
        Stop(RemovedReason);
        await store.TombstoneAsync(claim);
    }

    private async Task ReconcileAsync()
    {
        try
        {
            await NotifyRemovedAsync();
            await ReportMembersAsync();
            var step = await PlanAsync();
            if (step.Kind != PlanKind.None)
            {
                await TakeAsync(step);
            }
        }
        catch (Exception e)
        {
            LogReconcileFailed(_key, e);
        }
        finally
        {
            _reconciling = false;
        }
    }

    /// <summary>
    /// Tells the ring this group's configuration once it is committed and newer than the last one
    /// told: a router that knows none of the members any more finds them there.
    /// </summary>
    private async Task ReportMembersAsync()
    {
        if (Members is not { ConfigIndex: > 0 } members || members.ConfigIndex <= _reportedConfigIndex)
        {
            return;
        }

        try
        {
            await GrainFactory.GetGrain<IRingGrain>(IRingGrain.DefaultKey).ReportMembers(_shard, members).WaitAsync(TimeSpan.FromSeconds(5));
            _reportedConfigIndex = members.ConfigIndex;
        }
        catch (Exception e) when (e is TimeoutException or OrleansException)
        {
            // The ring is out of reach (its silo may be the one that died): told again next round.
            // Repairing the group must not wait for it.
        }
    }

    private async Task<PlanStep> PlanAsync()
    {
        var raft = Raft;
        var config = raft.Config;
        if (raft.ConfigIndex > raft.CommitIndex)
        {
            // One change at a time.
            return PlanStep.None;
        }

        var (live, stableFor, complete) = stores.Live();
        var grace = ringOptions.Value.DeadStoreGrace;
        var dead = new HashSet<ulong>();
        var unsettled = false;
        foreach (var member in config.Members)
        {
            var memberStore = config.StoreOf(member);
            var missing = stores.MissingFor(memberStore);
            if (missing >= grace && complete)
            {
                dead.Add(memberStore);
            }
            else if (missing > TimeSpan.Zero)
            {
                unsettled = true;
            }
        }

        // A member that has not answered this leader for the grace period is gone as well, whatever
        // Orleans membership says of its silo (a hung or cut-off silo may still count as active).
        var progress = raft.GetStatus().Progress;
        var now = DateTime.UtcNow;
        var caughtUp = new HashSet<ulong> { _id };
        var lost = new HashSet<ulong>();
        foreach (var (member, pr) in progress)
        {
            if (member == _id || pr.RecentActive)
            {
                _inactiveSince.Remove(member);
            }
            else
            {
                _inactiveSince.TryAdd(member, now);
            }

            if (member == _id)
            {
                continue;
            }

            if (pr.RecentActive && pr.Match >= raft.CommitIndex)
            {
                caughtUp.Add(member);
                continue;
            }

            var silentTooLong = !pr.RecentActive && now - _inactiveSince[member] >= grace && complete;
            if (live.Contains(config.StoreOf(member)) && PeerOf(member) is { } peer)
            {
                // Behind or silent on a live store: ask it why (a replica that lost its state says so;
                // a founder its silo has not created yet says "Missing", and will be there shortly).
                try
                {
                    var status = await peer.GetStatus().WaitAsync(TimeSpan.FromSeconds(1));
                    if (status.Term == raft.Term && status.Leader == _id && status.Role is "Follower" or "Learner")
                    {
                        // It follows this leader in this term: our messages reach it, and it is
                        // only just back (a restarted silo) or its answers are late. Not silent.
                        _inactiveSince.Remove(member);
                        continue;
                    }

                    if (status.Role is "Lost" || (silentTooLong && status.Role is not "Missing"))
                    {
                        // Lost, or alive but out of reach of this leader for too long: replace it
                        // (its store stays usable for the replacement).
                        lost.Add(member);
                    }
                }
                catch (Exception e) when (e is TimeoutException or OrleansException)
                {
                    if (silentTooLong)
                    {
                        // Its silo does not answer either: treat the store as gone for this shard.
                        dead.Add(config.StoreOf(member));
                    }
                }
            }
            else if (silentTooLong)
            {
                dead.Add(config.StoreOf(member));
            }
        }

        // Moves toward the placement wait until the live stores have settled; replacing the gone does not.
        var settled = complete && !unsettled && stableFor >= ringOptions.Value.RebalanceSettle;
        var placement = stores.PlacementOver(live, _shardCount, _replicationFactor);
        var targets = settled ? placement.ReplicasOf(_shard) : config.Voters.Select(config.StoreOf).ToList();
        var preferred = settled ? targets[placement.LeaderSlotOf(_shard)] : config.StoreOf(_id);
        if (!IsLeader)
        {
            return PlanStep.None;
        }

        var step = ReplicaPlanner.Next(new PlanInput(Raft.Config, _id, caughtUp, live, dead, lost, targets, preferred, _replicationFactor));
        LogPlanInputs(_key, live.Count, complete, stableFor.TotalSeconds, dead.Count, lost.Count, unsettled, step.Kind, step.Reason);
        return step;
    }

    private async Task TakeAsync(PlanStep step)
    {
        if (!IsLeader)
        {
            return;
        }

        LogPlan(_key, step.Kind, step.Replica, step.Store, step.Reason);
        switch (step.Kind)
        {
            case PlanKind.AddLearner:
                // Created on its store first: a replica never creates itself.
                var created = await GrainFactory.GetGrain<IRaftReplicaGrain>(ReplicaId.Format(_shard, step.Replica, step.Store)).Create().WaitAsync(TimeSpan.FromSeconds(10));
                if (created && IsLeader && Raft.Config.NextId == step.Replica)
                {
                    Propose(new ConfChange(ConfChangeType.AddLearner, step.Replica, step.Store), "add");
                }

                break;
            case PlanKind.Promote:
                Propose(new ConfChange(ConfChangeType.AddVoter, step.Replica), "promote");
                break;
            case PlanKind.Remove:
                if (Propose(new ConfChange(ConfChangeType.RemoveNode, step.Replica), "remove") && Raft.Config.IsRemoved(step.Replica))
                {
                    _removing[step.Replica] = step.Store;
                }

                break;
            case PlanKind.TransferLeadership:
                if (Raft.TransferLeadership(step.Replica) == ProposeStatus.Accepted)
                {
                    ReplicaMetrics.LeadershipTransfers.Add(1, new KeyValuePair<string, object?>("reason", step.Reason == "balance leaders" ? "balance" : "placement"));
                    SchedulePump();
                }

                break;
        }
    }

    private bool Propose(ConfChange change, string kind)
    {
        var result = Raft.ProposeConfChange(change);
        if (result.IsAccepted)
        {
            ReplicaMetrics.MembershipChanges.Add(1, new KeyValuePair<string, object?>("kind", kind));
            SchedulePump();
        }

        return result.IsAccepted;
    }

    /// <summary>Tells replicas whose removal this leader committed that they are gone, so they tombstone themselves.</summary>
    private async Task NotifyRemovedAsync()
    {
        var raft = Raft;
        foreach (var (id, removedStore) in _removing.ToList())
        {
            if (raft.CommitIndex + 1 < raft.FirstIndex || !raft.ConfigAt(raft.CommitIndex).IsRemoved(id))
            {
                continue;
            }

            _removing.Remove(id);
            try
            {
                await GrainFactory.GetGrain<IRaftReplicaGrain>(ReplicaId.Format(_shard, id, removedStore)).Removed().WaitAsync(TimeSpan.FromSeconds(5));
            }
            catch (Exception e) when (e is TimeoutException or OrleansException)
            {
                // Its store is down: it finds out when it comes back (its messages are dropped meanwhile).
            }
        }
    }
}

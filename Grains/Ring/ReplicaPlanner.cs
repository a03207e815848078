using ActorCluster.Grains.Raft;

namespace ActorCluster.Grains.Ring;

/// <summary>What a shard's leader does next to bring its replica set to where it belongs.</summary>
public enum PlanKind : byte
{
    /// <summary>Nothing to do (or nothing that can be done now).</summary>
    None = 0,

    /// <summary>Add a learner with a new replica id on <see cref="PlanStep.Store"/>.</summary>
    AddLearner = 1,

    /// <summary>Promote the caught-up learner <see cref="PlanStep.Replica"/> to voter.</summary>
    Promote = 2,

    /// <summary>Remove <see cref="PlanStep.Replica"/> from the group (its id is never used again).</summary>
    Remove = 3,

    /// <summary>Hand leadership to <see cref="PlanStep.Replica"/> (before this leader is removed, or to balance leaders).</summary>
    TransferLeadership = 4,
}

/// <summary>One membership step, with the reason operators see in logs and metrics.</summary>
public readonly record struct PlanStep(PlanKind Kind, ulong Replica, ulong Store, string Reason)
{
    public static PlanStep None { get; } = new(PlanKind.None, 0, 0, "in place");
}

/// <summary>
/// What a shard's leader knows when it plans: its configuration (members and their stores), which
/// members are caught up, which stores are live, which have been dead longer than the grace
/// period, which members reported that their state is gone, and where the placement puts the
/// shard's replicas over the live stores (<see cref="ReplicaPlacement"/>), with the store that
/// should hold its leader.
/// </summary>
public sealed record PlanInput(
    ClusterConfig Config,
    ulong Leader,
    IReadOnlySet<ulong> CaughtUp,
    IReadOnlySet<ulong> LiveStores,
    IReadOnlySet<ulong> DeadStores,
    IReadOnlySet<ulong> LostReplicas,
    IReadOnlyList<ulong> TargetStores,
    ulong PreferredLeaderStore,
    int ReplicationFactor);

/// <summary>
/// The replica checker (CockroachDB's replicate queue, PD's replica checker): one membership change
/// at a time, always toward R voters on distinct live stores where the consistent-hash placement
/// puts them. Pure and deterministic.
/// </summary>
/// <remarks>
/// <para>A replica that lost its state, or whose store has been dead past the grace period, is
/// removed first and replaced after: adding first would raise the quorum while a voter is known
/// not to answer. A replica that is merely misplaced (its store is live, the placement moved) is
/// replaced the other way round, learner first, so the group never has fewer live voters than R.</para>
/// <para>New replicas join as learners with the configuration's next id (ids are never reused),
/// catch up (by snapshot), and are promoted only once caught up. A leader never removes itself: it
/// hands leadership to a caught-up voter, and its successor removes it.</para>
/// </remarks>
public static class ReplicaPlanner
{
    public static PlanStep Next(PlanInput input)
    {
        ArgumentNullException.ThrowIfNull(input);
        var config = input.Config;
        var target = input.TargetStores.ToHashSet();
        var voters = config.Voters;

        bool Gone(ulong id) => IsGone(input, id);
        bool Usable(ulong store) => IsUsable(input, store);
        bool Healthy(ulong id) => IsHealthy(input, id);

        // 1. A learner is finished first: promoted once caught up, removed if it can no longer be used.
        foreach (var learner in config.Learners)
        {
            var store = config.StoreOf(learner);
            if (Gone(learner) || !Usable(store) || voters.Any(v => config.StoreOf(v) == store && !Gone(v)))
            {
                return new PlanStep(PlanKind.Remove, learner, store, "learner can no longer be used");
            }

            if (input.CaughtUp.Contains(learner))
            {
                return new PlanStep(PlanKind.Promote, learner, store, "learner caught up");
            }

            return new PlanStep(PlanKind.None, learner, store, "learner catching up");
        }

        // 2. Voters that are gone (state lost, store dead past the grace period) are removed first,
        //    as long as the voters that remain can still form a quorum among themselves.
        var gone = voters.Where(Gone).ToList();
        if (gone.Count > 0 && voters.Count > 1)
        {
            var victim = gone[0];
            var remaining = voters.Where(v => v != victim).ToList();
            var healthyRemaining = remaining.Count(Healthy);
            if (healthyRemaining >= (remaining.Count / 2) + 1)
            {
                return Remove(input, victim, "its state or its store is gone");
            }
        }

        // 3. Voters on the same store as another: keep one (two copies on one disk are one copy).
        var duplicate = voters.GroupBy(config.StoreOf).Where(g => g.Count() > 1).SelectMany(g => g.Skip(1)).FirstOrDefault();
        if (duplicate != RaftNode.None)
        {
            return Remove(input, duplicate, "another voter holds the same store");
        }

        // 4. Too few voters: add one where the placement wants one (or on any usable store).
        var held = config.Members.Select(config.StoreOf).ToHashSet();
        var wanted = input.TargetStores.Where(s => Usable(s) && !held.Contains(s)).ToList();
        if (voters.Count < input.ReplicationFactor)
        {
            var store = wanted.Count > 0 ? wanted[0] : input.LiveStores.Where(s => Usable(s) && !held.Contains(s)).Order().FirstOrDefault();
            return store != 0
                ? new PlanStep(PlanKind.AddLearner, config.NextId, store, $"{voters.Count} of {input.ReplicationFactor} voters")
                : new PlanStep(PlanKind.None, 0, 0, $"{voters.Count} of {input.ReplicationFactor} voters and no store to add one on");
        }

        // 5. Too many voters (a replacement was promoted): remove the one the placement does not want.
        if (voters.Count > input.ReplicationFactor)
        {
            var extra = voters.Where(v => !target.Contains(config.StoreOf(v))).Concat(voters.Where(v => !Healthy(v))).FirstOrDefault();
            return Remove(input, extra != RaftNode.None ? extra : voters.Where(v => v != input.Leader).Last(), "more voters than the replication factor");
        }

        // 6. A misplaced voter on a live store: its replacement joins first, where the placement wants it.
        var misplaced = voters.Where(v => !target.Contains(config.StoreOf(v))).ToList();
        if (misplaced.Count > 0 && wanted.Count > 0)
        {
            return new PlanStep(PlanKind.AddLearner, config.NextId, wanted[0], $"replica {misplaced[0]} is not where the placement puts it");
        }

        // 7. Leaders balanced over stores: hand leadership to the preferred store's caught-up voter.
        var preferred = voters.FirstOrDefault(v => config.StoreOf(v) == input.PreferredLeaderStore);
        if (preferred != RaftNode.None && preferred != input.Leader && Healthy(preferred) && input.CaughtUp.Contains(preferred))
        {
            return new PlanStep(PlanKind.TransferLeadership, preferred, input.PreferredLeaderStore, "balance leaders");
        }

        return PlanStep.None;
    }

    /// <summary>The replica's state is lost, or its store has been dead past the grace period.</summary>
    private static bool IsGone(PlanInput input, ulong id) =>
        input.LostReplicas.Contains(id) || input.DeadStores.Contains(input.Config.StoreOf(id));

    /// <summary>A store a replica can live on: known, live, and not given up on.</summary>
    private static bool IsUsable(PlanInput input, ulong store) =>
        store != 0 && input.LiveStores.Contains(store) && !input.DeadStores.Contains(store);

    private static bool IsHealthy(PlanInput input, ulong id) => !IsGone(input, id) && IsUsable(input, input.Config.StoreOf(id));

    /// <summary>Removes <paramref name="victim"/>, or, when it is the leader, hands leadership to a caught-up healthy voter first.</summary>
    private static PlanStep Remove(PlanInput input, ulong victim, string reason)
    {
        var config = input.Config;
        if (victim != input.Leader)
        {
            return new PlanStep(PlanKind.Remove, victim, config.StoreOf(victim), reason);
        }

        var successor = config.Voters
            .Where(v => v != victim && input.CaughtUp.Contains(v) && IsHealthy(input, v))
            .OrderBy(v => config.StoreOf(v) == input.PreferredLeaderStore ? 0 : 1)
            .ThenBy(v => v)
            .FirstOrDefault();
        return successor != RaftNode.None
            ? new PlanStep(PlanKind.TransferLeadership, successor, config.StoreOf(successor), $"the leader is to be removed: {reason}")
            : new PlanStep(PlanKind.None, victim, config.StoreOf(victim), $"the leader is to be removed ({reason}) but no voter can take over");
    }
}

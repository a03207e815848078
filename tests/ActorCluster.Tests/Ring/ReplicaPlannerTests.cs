using ActorCluster.Grains.Raft;
using ActorCluster.Grains.Ring;
using Xunit.Abstractions;

namespace ActorCluster.Tests.Ring;

/// <summary>
/// The replica checker, driven over a whole fleet of shards as the leaders would drive it (each
/// step applied at once, every replica caught up at once): it must converge to R voters on
/// distinct live stores where the placement puts them, one change at a time, with ids never
/// reused, a live quorum at every step, and few moves.
/// </summary>
public sealed class ReplicaPlannerTests(ITestOutputHelper output)
{
    private const int R = 3;

    [Theory]
    [InlineData(3, 64)]
    [InlineData(5, 64)]
    [InlineData(8, 256)]
    public void A_new_store_takes_close_to_its_ideal_share_and_no_more(int stores, int shards)
    {
        var fleet = new Fleet(stores, shards);
        fleet.Converge();
        fleet.AddStore();
        var moves = fleet.Converge();
        var ideal = (double)R * shards / (stores + 1);
        output.WriteLine($"{stores} -> {stores + 1} stores, {shards} shards: {moves} replicas moved, ideal {ideal:0.0}, ratio {moves / ideal:0.00}");
        fleet.AssertPlaced();
        Assert.True(moves <= 1.25 * ideal, $"{moves} moves for an ideal of {ideal:0.0}");
    }

    [Theory]
    [InlineData(4, 64)]
    [InlineData(6, 128)]
    public void The_replicas_of_a_dead_store_are_replaced_on_live_stores_with_new_ids(int stores, int shards)
    {
        var fleet = new Fleet(stores, shards);
        fleet.Converge();
        var dead = fleet.Stores[1];
        var onDead = fleet.Shards.Where(s => s.Config.Voters.Any(v => s.Config.StoreOf(v) == dead)).Select(s => (s, s.Config.Voters.Single(v => s.Config.StoreOf(v) == dead))).ToList();
        fleet.Kill(dead);
        var moves = fleet.Converge();
        output.WriteLine($"store dead: {onDead.Count} replicas to replace, {moves} moves");
        fleet.AssertPlaced();
        foreach (var (shard, id) in onDead)
        {
            Assert.True(shard.Config.IsRemoved(id));
            Assert.DoesNotContain(shard.Config.Members, m => shard.Config.StoreOf(m) == dead);
        }

        Assert.True(moves <= 1.25 * onDead.Count + 2, $"{moves} moves to replace {onDead.Count} replicas");
    }

    [Fact]
    public void A_replica_that_lost_its_state_is_removed_first_then_replaced_under_a_new_id()
    {
        var fleet = new Fleet(4, 8);
        fleet.Converge();
        var shard = fleet.Shards[3];
        var lost = shard.Config.Voters.First(v => v != shard.Leader);
        var store = shard.Config.StoreOf(lost);
        var next = shard.Config.NextId;
        shard.Lost.Add(lost);
        var first = ReplicaPlanner.Next(fleet.InputOf(shard));
        Assert.Equal(PlanKind.Remove, first.Kind);
        Assert.Equal(lost, first.Replica);
        fleet.Converge();
        Assert.True(shard.Config.IsRemoved(lost));
        Assert.Equal(R, shard.Config.Voters.Count);
        // Its replacement has an id never used in the group, whatever store it landed on.
        var replacement = shard.Config.Voters.Single(v => v >= next);
        Assert.NotEqual(0UL, shard.Config.StoreOf(replacement));
        output.WriteLine($"lost {lost} on {store:x}; replaced by {replacement} on {shard.Config.StoreOf(replacement):x}");
    }

    [Fact]
    public void A_leader_that_must_go_hands_leadership_over_first()
    {
        var fleet = new Fleet(4, 8);
        fleet.Converge();
        var shard = fleet.Shards[0];
        shard.Lost.Add(shard.Leader);
        var step = ReplicaPlanner.Next(fleet.InputOf(shard));
        Assert.Equal(PlanKind.TransferLeadership, step.Kind);
        Assert.NotEqual(shard.Leader, step.Replica);
        Assert.True(shard.Config.IsVoter(step.Replica));
    }

    [Fact]
    public void With_too_few_stores_nothing_is_removed_that_cannot_be_replaced()
    {
        var fleet = new Fleet(3, 4);
        fleet.Converge();
        fleet.Kill(fleet.Stores[0]);
        fleet.Converge();
        // The dead store's replicas go (two live voters still form a quorum of two), but nothing
        // can take their place: each shard keeps its two live voters, and the checker waits.
        foreach (var shard in fleet.Shards)
        {
            Assert.Equal(2, shard.Config.Voters.Count);
            Assert.All(shard.Config.Voters, v => Assert.Contains(shard.Config.StoreOf(v), fleet.Live));
            Assert.Equal(PlanKind.None, ReplicaPlanner.Next(fleet.InputOf(shard)).Kind);
        }

        // A new store arrives: every shard is back to three voters.
        fleet.AddStore();
        fleet.Converge();
        fleet.AssertPlaced();
    }

    [Fact]
    public void A_learner_that_has_not_caught_up_is_waited_for_and_one_on_a_dead_store_is_removed()
    {
        var config = new ClusterConfig([1, 2, 3], [4], new Dictionary<ulong, ulong> { [1] = 10, [2] = 20, [3] = 30, [4] = 40 });
        var live = new HashSet<ulong> { 10, 20, 30, 40 };
        var input = new PlanInput(config, 1, new HashSet<ulong> { 1, 2, 3 }, live, new HashSet<ulong>(), new HashSet<ulong>(), [10, 20, 40], 10, R);
        Assert.Equal(PlanKind.None, ReplicaPlanner.Next(input).Kind);
        Assert.Equal(PlanKind.Promote, ReplicaPlanner.Next(input with { CaughtUp = new HashSet<ulong> { 1, 2, 3, 4 } }).Kind);
        var dead = ReplicaPlanner.Next(input with { DeadStores = new HashSet<ulong> { 40 } });
        Assert.Equal((PlanKind.Remove, 4UL), (dead.Kind, dead.Replica));
    }

    /// <summary>Shards and stores, with each shard's configuration and leader, driven to a fixpoint.</summary>
    private sealed class Fleet
    {
        private readonly int _shardCount;
        private ulong _nextStore = 1;

        public Fleet(int stores, int shards)
        {
            _shardCount = shards;
            for (var i = 0; i < stores; i++)
            {
                AddStore();
            }

            var placement = ReplicaPlacement.Compute(Live, shards, R);
            for (var s = 0; s < shards; s++)
            {
                var targets = placement.ReplicasOf(s);
                var stores2 = new Dictionary<ulong, ulong>();
                for (var i = 0; i < R; i++)
                {
                    stores2[(ulong)i + 1] = targets[i];
                }

                var config = new ClusterConfig([1, 2, 3], [], stores2);
                Shards.Add(new ShardState(s, config, (ulong)placement.LeaderSlotOf(s) + 1));
            }
        }

        public List<ulong> Stores { get; } = [];

        public HashSet<ulong> Live { get; } = [];

        public HashSet<ulong> Dead { get; } = [];

        public List<ShardState> Shards { get; } = [];

        public void AddStore()
        {
            var store = SiloKey.Of($"store-{_nextStore++}");
            Stores.Add(store);
            Live.Add(store);
        }

        public void Kill(ulong store)
        {
            Live.Remove(store);
            Dead.Add(store);
        }

        public PlanInput InputOf(ShardState shard)
        {
            var placement = ReplicaPlacement.Compute(Live, _shardCount, R);
            var targets = placement.ReplicasOf(shard.Shard);
            return new PlanInput(
                shard.Config,
                shard.Leader,
                shard.Config.Members.Where(m => !shard.Lost.Contains(m) && Live.Contains(shard.Config.StoreOf(m))).ToHashSet(),
                Live,
                Dead,
                shard.Lost,
                targets,
                targets[placement.LeaderSlotOf(shard.Shard)],
                R);
        }

        /// <summary>Applies steps until every shard's checker says "in place"; returns the replicas added.</summary>
        public int Converge()
        {
            var added = 0;
            for (var round = 0; round < 10_000; round++)
            {
                var changed = false;
                foreach (var shard in Shards)
                {
                    var step = ReplicaPlanner.Next(InputOf(shard));
                    if (step.Kind == PlanKind.None)
                    {
                        continue;
                    }

                    changed = true;
                    Apply(shard, step);
                    added += step.Kind == PlanKind.AddLearner ? 1 : 0;
                    AssertLiveQuorum(shard);
                }

                if (!changed)
                {
                    return added;
                }
            }

            throw new InvalidOperationException("The checker did not converge.");
        }

        public void AssertPlaced()
        {
            var placement = ReplicaPlacement.Compute(Live, _shardCount, R);
            foreach (var shard in Shards)
            {
                var stores = shard.Config.Voters.Select(shard.Config.StoreOf).ToList();
                Assert.Equal(R, stores.Count);
                Assert.Equal(R, stores.Distinct().Count());
                Assert.All(stores, s => Assert.Contains(s, Live));
                Assert.Empty(shard.Config.Learners);
                Assert.Equal(placement.ReplicasOf(shard.Shard).Order(), stores.Order());
                Assert.True(shard.Config.IsVoter(shard.Leader));
            }
        }

        private static void Apply(ShardState shard, PlanStep step)
        {
            var before = shard.Config;
            switch (step.Kind)
            {
                case PlanKind.AddLearner:
                    Assert.True(step.Replica >= before.NextId, "a new replica must have a new id");
                    shard.Config = before.Apply(new ConfChange(ConfChangeType.AddLearner, step.Replica, step.Store));
                    break;
                case PlanKind.Promote:
                    Assert.True(before.IsLearner(step.Replica));
                    shard.Config = before.Apply(new ConfChange(ConfChangeType.AddVoter, step.Replica));
                    break;
                case PlanKind.Remove:
                    Assert.NotEqual(shard.Leader, step.Replica);
                    shard.Config = before.Apply(new ConfChange(ConfChangeType.RemoveNode, step.Replica));
                    shard.Lost.Remove(step.Replica);
                    break;
                case PlanKind.TransferLeadership:
                    Assert.True(before.IsVoter(step.Replica));
                    shard.Leader = step.Replica;
                    break;
            }

            Assert.True(shard.Config.NextId >= before.NextId);
        }

        /// <summary>With at most one store gone, every configuration keeps a quorum of live voters.</summary>
        private void AssertLiveQuorum(ShardState shard)
        {
            var live = shard.Config.Voters.Count(v => Live.Contains(shard.Config.StoreOf(v)) && !shard.Lost.Contains(v));
            if (Dead.Count <= 1)
            {
                Assert.True(live >= shard.Config.Quorum, $"shard {shard.Shard}: {shard.Config} has {live} live voters");
            }
        }
    }

    private sealed class ShardState(int shard, ClusterConfig config, ulong leader)
    {
        public int Shard { get; } = shard;

        public ClusterConfig Config { get; set; } = config;

        public ulong Leader { get; set; } = leader;

        public HashSet<ulong> Lost { get; } = [];
    }
}

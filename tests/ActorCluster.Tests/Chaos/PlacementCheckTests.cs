using ActorCluster.Cli.Chaos;
using ActorCluster.Grains.Interfaces;

namespace ActorCluster.Tests.Chaos;

/// <summary>The end-of-run check: every shard has a leader and R voters on distinct live silos and stores.</summary>
public sealed class PlacementCheckTests
{
    private static readonly HashSet<int> Live = [11111, 11112, 11113, 11114];

    private static ReplicaStatus Replica(ulong id, int port, string store, string role = "Follower", ulong leader = 1, params ulong[] members) =>
        new(0, id, $"S127.0.0.1:{port}:155019459", role, Term: 2, Leader: leader, CommitIndex: 9, AppliedIndex: 9, LastIndex: 9, SnapshotIndex: 0, Keys: 1, Store: store, Members: members, Voters: members);

    private static ClusterStatus Status(params ReplicaStatus[] replicas) =>
        new(new RingDescriptor(1, 3, 1), [], [new ShardStatus(0, replicas.FirstOrDefault(r => r.Role == "Leader")?.Replica ?? 0, replicas)]);

    private static ClusterStatus Sound() => Status(
        Replica(1, 11111, "a", "Leader", 1, 1, 2, 3),
        Replica(2, 11112, "b"),
        Replica(3, 11113, "c"));

    [Fact]
    public void A_whole_shard_on_three_live_silos_is_sound()
    {
        Assert.Empty(PlacementCheck.Problems(Sound(), Live, new HashSet<string>()));
    }

    [Fact]
    public void A_shard_without_a_leader_is_not()
    {
        var status = Status(Replica(2, 11112, "b"), Replica(3, 11113, "c"));
        Assert.Contains(PlacementCheck.Problems(status, Live, new HashSet<string>()), p => p.Contains("no leader", StringComparison.Ordinal));
    }

    [Fact]
    public void A_member_that_does_not_answer_or_sits_on_a_dead_silo_or_a_gone_store_is_a_problem()
    {
        var silent = Status(Replica(1, 11111, "a", "Leader", 1, 1, 2, 3), Replica(2, 11112, "b"));
        Assert.Contains(PlacementCheck.Problems(silent, Live, new HashSet<string>()), p => p.Contains("member 3 does not answer", StringComparison.Ordinal));

        Assert.Contains(PlacementCheck.Problems(Sound(), new HashSet<int> { 11111, 11112 }, new HashSet<string>()), p => p.Contains("not running", StringComparison.Ordinal));
        Assert.Contains(PlacementCheck.Problems(Sound(), Live, new HashSet<string> { "c" }), p => p.Contains("store c, which is gone", StringComparison.Ordinal));
    }

    [Fact]
    public void A_learner_left_in_the_configuration_or_too_few_members_is_a_problem()
    {
        var learner = Status(
            Replica(1, 11111, "a", "Leader", 1, 1, 2, 3, 4),
            Replica(2, 11112, "b"),
            Replica(3, 11113, "c"),
            Replica(4, 11114, "d", "Learner"));
        var problems = PlacementCheck.Problems(learner, Live, new HashSet<string>());
        Assert.Contains(problems, p => p.Contains("4 members", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.Contains("member 4 is a Learner", StringComparison.Ordinal));

        var two = Status(Replica(1, 11111, "a", "Leader", 1, 1, 2), Replica(2, 11112, "b"));
        Assert.Contains(PlacementCheck.Problems(two, Live, new HashSet<string>()), p => p.Contains("2 members", StringComparison.Ordinal));
    }

    [Fact]
    public void A_learner_that_answers_as_a_follower_does_not_count_as_a_voter()
    {
        // Three members, all answering as followers, but the leader's configuration has only two
        // voters: one more failure would stop the shard. (A wipe check that counted roles passed
        // here, and the next kill left a shard without a quorum.)
        var status = Status(
            Replica(1, 11111, "a", "Leader", 1, 1, 2, 3) with { Voters = [1, 2] },
            Replica(2, 11112, "b"),
            Replica(3, 11113, "c"));
        Assert.Contains(PlacementCheck.Problems(status, Live, new HashSet<string>()), p => p.Contains("member 3 is not a voter", StringComparison.Ordinal));
    }

    [Fact]
    public void Two_members_on_one_silo_or_one_store_are_a_problem()
    {
        var oneSilo = Status(Replica(1, 11111, "a", "Leader", 1, 1, 2, 3), Replica(2, 11112, "b"), Replica(3, 11112, "c"));
        Assert.Contains(PlacementCheck.Problems(oneSilo, Live, new HashSet<string>()), p => p.Contains("share a silo", StringComparison.Ordinal));
        var oneStore = Status(Replica(1, 11111, "a", "Leader", 1, 1, 2, 3), Replica(2, 11112, "b"), Replica(3, 11113, "b"));
        Assert.Contains(PlacementCheck.Problems(oneStore, Live, new HashSet<string>()), p => p.Contains("share a store", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("S127.0.0.1:11111:155019459", 11111)]
    [InlineData("S10.0.0.7:30001:1", 30001)]
    [InlineData("garbage", null)]
    public void Silo_ports_are_read_from_orleans_addresses(string silo, int? port)
    {
        Assert.Equal(port, PlacementCheck.PortOf(silo));
    }
}

using ActorCluster.Grains.Hosting;
using ActorCluster.Grains.Interfaces;

namespace ActorCluster.Tests.Operate;

public sealed class RaftViewTests
{
    private static readonly DateTime Now = new(2026, 12, 1, 12, 0, 0, DateTimeKind.Utc);

    private static ReplicaStatus Replica(int shard, ulong id, string silo, string role, ulong leader = 1, ulong applied = 10, ulong last = 10, string name = "",
        IReadOnlyList<ulong>? members = null, IReadOnlyList<ulong>? voters = null, IReadOnlyList<ulong>? matched = null, DateTime? since = null) =>
        new(shard, id, silo, role, 3, leader, applied, applied, last, 4, 5, SnapshotBytes: 2048, Store: $"store{id}", Members: members ?? [1, 2, 3], Voters: voters ?? members ?? [1, 2, 3],
            SiloName: name, LeaderSince: since, Matched: matched);

    private static ClusterStatus Cluster(params ShardStatus[] shards) => new(
        new RingDescriptor(shards.Length, 3, 1),
        ["S127.0.0.1:1:1", "S127.0.0.1:2:1", "S127.0.0.1:3:1"],
        shards,
        new Dictionary<string, string> { ["S127.0.0.1:1:1"] = "east", ["S127.0.0.1:2:1"] = "west", ["S127.0.0.1:3:1"] = "" });

    [Fact]
    public void A_healthy_shard_shows_its_leader_by_silo_name_and_each_followers_lag_behind_its_log()
    {
        var shard = new ShardStatus(0, 1, [
            Replica(0, 1, "S127.0.0.1:1:1", "Leader", last: 12, name: "east", matched: [12, 9, 12], since: Now.AddSeconds(-30)),
            Replica(0, 2, "S127.0.0.1:2:1", "Follower", applied: 9, last: 9),
            Replica(0, 3, "S127.0.0.1:3:1", "Follower", last: 12),
        ]);
        var view = RaftView.Build(Cluster(shard), Now);

        var only = Assert.Single(view.Shards);
        Assert.Equal("ok", only.State);
        Assert.Equal("east", only.LeaderSilo);
        Assert.Equal(Now.AddSeconds(-30), only.LastElection);
        Assert.Equal([0UL, 3UL, 0UL], only.Replicas.Select(r => r.Lag!.Value));
        // A replica names its silo; one that does not is named from membership; one whose silo has
        // no name shows the address.
        Assert.Equal(["east", "west", "S127.0.0.1:3:1"], only.Replicas.Select(r => r.Silo));
        Assert.Empty(only.Changes);
        Assert.Equal(0, view.Leaderless);
        Assert.Equal(Now, view.GeneratedAt);
    }

    [Fact]
    public void Silos_count_their_replicas_and_leaders_and_replicas_that_left_count_for_nobody()
    {
        var view = RaftView.Build(Cluster(
            new ShardStatus(0, 1, [Replica(0, 1, "S127.0.0.1:1:1", "Leader"), Replica(0, 2, "S127.0.0.1:2:1", "Follower"), Replica(0, 3, "S127.0.0.1:3:1", "Follower")]),
            new ShardStatus(1, 2, [Replica(1, 1, "S127.0.0.1:1:1", "Follower", 2), Replica(1, 2, "S127.0.0.1:2:1", "Leader", 2), Replica(1, 3, "S127.0.0.1:3:1", "Removed", 2)])), Now);

        Assert.Equal(
            [("S127.0.0.1:3:1", 1, 0), ("east", 2, 1), ("west", 2, 1)],
            view.Silos.Select(s => (s.Name, s.Replicas, s.Leaders)));
    }

    [Fact]
    public void A_shard_without_a_leader_a_joining_learner_a_leaving_replica_and_a_silent_member_are_each_called_out()
    {
        var leaderless = new ShardStatus(0, 0, [Replica(0, 1, "S127.0.0.1:1:1", "Candidate", 0), Replica(0, 2, "S127.0.0.1:2:1", "Follower", 0)]);
        var joining = new ShardStatus(1, 1, [
            Replica(1, 1, "S127.0.0.1:1:1", "Leader", members: [1, 2, 3, 4], voters: [1, 2, 3], matched: [10, 10, 10, 2]),
            Replica(1, 2, "S127.0.0.1:2:1", "Follower"), Replica(1, 3, "S127.0.0.1:3:1", "Follower"),
            Replica(1, 4, "S127.0.0.1:3:1", "Learner", applied: 2, last: 2, members: [1, 2, 3, 4], voters: [1, 2, 3]),
        ]);
        var leaving = new ShardStatus(2, 1, [
            Replica(2, 1, "S127.0.0.1:1:1", "Leader", members: [1, 2, 4], voters: [1, 2, 4]), Replica(2, 2, "S127.0.0.1:2:1", "Follower"),
            Replica(2, 3, "S127.0.0.1:3:1", "Removed"), Replica(2, 4, "S127.0.0.1:3:1", "Follower"),
        ]);
        var silent = new ShardStatus(3, 1, [Replica(3, 1, "S127.0.0.1:1:1", "Leader"), Replica(3, 2, "S127.0.0.1:2:1", "Follower")]);

        var view = RaftView.Build(Cluster(leaderless, joining, leaving, silent), Now);

        Assert.Equal(["no leader", "changing", "changing", "degraded"], view.Shards.Select(s => s.State));
        Assert.Equal(1, view.Leaderless);
        Assert.Null(view.Shards[0].LeaderSilo);
        Assert.All(view.Shards[0].Replicas, r => Assert.Null(r.Lag));
        Assert.Equal(["replica 4 joining (learner on S127.0.0.1:3:1)"], view.Shards[1].Changes);
        Assert.Equal(8UL, view.Shards[1].Replicas.Single(r => r.Id == 4).Lag);
        Assert.False(view.Shards[1].Replicas.Single(r => r.Id == 4).Voter);
        Assert.Equal(["replica 3 leaving (removed on S127.0.0.1:3:1)"], view.Shards[2].Changes);
        Assert.Equal(["replica 3 not answering"], view.Shards[3].Changes);
    }

    [Fact]
    public void The_newest_elections_come_first_and_only_as_many_as_asked()
    {
        var shards = Enumerable.Range(0, 30).Select(s => new ShardStatus(s, 1, [
            Replica(s, 1, "S127.0.0.1:1:1", "Leader", name: "east", since: Now.AddSeconds(-s)),
            Replica(s, 2, "S127.0.0.1:2:1", "Follower"), Replica(s, 3, "S127.0.0.1:3:1", "Follower"),
        ])).ToArray();

        var view = RaftView.Build(Cluster(shards), Now, recent: 5);

        Assert.Equal([0, 1, 2, 3, 4], view.RecentElections.Select(e => e.Shard));
        Assert.All(view.RecentElections, e => Assert.Equal(("east", 1UL, 3UL), (e.Silo, e.Replica, e.Term)));
    }
}

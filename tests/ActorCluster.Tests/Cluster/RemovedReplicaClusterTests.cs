using ActorCluster.Grains.Interfaces;
using ActorCluster.Grains.Replicas;
using ActorCluster.Grains.Storage;
using Microsoft.Extensions.DependencyInjection;
using static ActorCluster.Tests.Cluster.ClusterAssertions;

namespace ActorCluster.Tests.Cluster;

/// <summary>
/// A replica removed while its store was down learns it when the store comes back, though the
/// leader's notice never reached it and its peers drop its messages: it leaves for good instead of
/// campaigning forever without a leader.
/// </summary>
public sealed class RemovedReplicaClusterTests
{
    [Fact]
    public async Task A_replica_replaced_while_its_store_was_down_tombstones_itself_when_the_store_returns()
    {
        await using var test = await TestCluster.StartAsync(silos: 4, shards: 1, settings: TestCluster.FastFailureDetection);
        var client = test.Client;
        var acknowledged = await WriteAsync(client, "k", 20);
        var status = await SpreadLeaderOf(client, 0);
        var victim = status.Replicas.First(r => r.Replica != status.Leader);
        var silo = test.SiloOf(victim.Silo);
        var key = TestCluster.KeyOf(victim);
        var store = test.StoreWithId(victim.Store);

        // Its store goes down for longer than the grace period: the leader replaces the replica
        // (a new id on another store) and removes it, and the removal notice finds nobody.
        await test.Cluster.KillSiloAsync(silo);
        await EventuallyAsync(async () =>
        {
            var now = await StatusOf(client, 0);
            return now.Leader != 0 && now.Replicas.Count == 3 && now.Replicas.All(r => r.Replica != victim.Replica && r.Role is "Leader" or "Follower");
        }, TimeSpan.FromSeconds(60), $"replica {victim.Replica} is replaced");
        Assert.Equal(ReplicaPresence.Initialized, await store.FindReplicaAsync(key));

        // The store comes back: its old replica wakes as the voter it was, hears no leader, asks
        // the ring, finds its id used and gone from the group, and tombstones itself.
        var back = await test.StartAgainAsync(silo);
        var grains = back.ServiceProvider.GetRequiredService<IGrainFactory>();
        await EventuallyAsync(
            async () => await store.FindReplicaAsync(key) == ReplicaPresence.Tombstoned,
            TimeSpan.FromSeconds(60), $"replica {key} tombstones itself");
        Assert.Equal("Removed", (await grains.GetGrain<IRaftReplicaGrain>(key).GetStatus()).Role);

        // Stopped: it counts as no replica without a leader (the alert is quiet), and the group
        // keeps its three members and every acknowledged write.
        await EventuallyAsync(
            () => Task.FromResult(back.ServiceProvider.GetRequiredService<ReplicaGauges>().Replicas.All(g => g.LeaderKnown)),
            TimeSpan.FromSeconds(20), "every replica on the returned silo knows a leader");
        var after = await StatusOf(client, 0);
        Assert.Equal(3, after.Replicas.Count(r => r.Role is "Leader" or "Follower"));
        foreach (var (written, version) in acknowledged)
        {
            Assert.Equal(version, (await client.GetAsync(written))!.Value.Version);
        }
    }

    [Fact]
    public void A_quiesced_follower_that_knows_its_leader_still_asks_the_ring_only_less_often()
    {
        // Such a follower once never asked: one whose removal notices (the leader's wake-up and its
        // notice) were both lost kept its replica for as long as that leader lived.
        var awake = TimeSpan.FromSeconds(10);
        Assert.Equal(awake, ActorCluster.Grains.Replicas.RaftReplicaGrain.RemovalSuspicionFor(quiescedWithLeader: false, awake));
        Assert.Equal(TimeSpan.FromMinutes(5), ActorCluster.Grains.Replicas.RaftReplicaGrain.RemovalSuspicionFor(quiescedWithLeader: true, awake));
    }

    [Fact]
    public void A_configuration_excludes_only_ids_it_has_used_and_does_not_hold_on_that_store()
    {
        var members = new ShardMembers(40, [2, 4, 5], [12, 14, 15], [true, true, true], NextId: 6);
        Assert.True(members.Excludes(1, 11));
        Assert.True(members.Excludes(3, 13));
        // Id 4 is a member, but on store 14: a replica 4 on store 13 was created for an addition
        // that never happened there, and the id went to another store.
        Assert.True(members.Excludes(4, 13));
        Assert.False(members.Excludes(4, 14));
        // An id the group has not used yet may still be added.
        Assert.False(members.Excludes(6, 16));
        Assert.False(members.Excludes(7, 17));
        // A record without the next id (from before it was kept) proves nothing.
        Assert.False((members with { NextId = 0 }).Excludes(1, 11));
        // Nor does a member whose store is not recorded (0): a replica must not delete itself
        // because a configuration could not name its store.
        var unknownStore = new ShardMembers(40, [2, 4, 5], [12, 0, 15], [true, true, true], NextId: 6);
        Assert.False(unknownStore.Excludes(4, 14));
        Assert.False(members.Excludes(4, 0));
        Assert.True(unknownStore.Excludes(3, 13));
    }
}

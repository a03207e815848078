using System.Text;
using ActorCluster.Grains.Storage;
using Xunit.Abstractions;
using static ActorCluster.Tests.Cluster.ClusterAssertions;

namespace ActorCluster.Tests.Cluster;

/// <summary>A replica whose ready loop fails stops cleanly and comes back from storage.</summary>
public sealed class ReplicaFailureClusterTests(ITestOutputHelper output)
{
    [Fact]
    public async Task An_unexpected_exception_in_the_ready_loop_restarts_the_replica_from_storage()
    {
        await using var test = await TestCluster.StartAsync(silos: 3, shards: 1);
        var client = test.Client;
        var keys = KeysOfShard(client, 0, 20);
        foreach (var key in keys.Take(10))
        {
            await client.PutAsync(key, Encoding.UTF8.GetBytes(key));
        }

        var status = await LeaderOf(client, 0);
        var leaderId = TestCluster.KeyOf(status.Replicas.Single(r => r.Replica == status.Leader));
        var claimsBefore = test.Faults.ClaimsOf(leaderId);
        // Not a storage error the loop knew about: any exception between GetReady and Advance.
        test.Faults.FailNextSave(leaderId, new NotSupportedException("injected"));

        foreach (var key in keys.Skip(10))
        {
            await client.PutAsync(key, Encoding.UTF8.GetBytes(key));
        }

        // The failed activation went away and a new one claimed the replica and reloaded it; every
        // replica is running and caught up (a zombie would keep its activation and fall behind).
        await EventuallyAsync(async () =>
        {
            var now = await StatusOf(client, 0);
            var leader = now.Replicas.SingleOrDefault(r => r.Replica == now.Leader);
            return test.Faults.ClaimsOf(leaderId) > claimsBefore && leader is not null && now.Replicas.Count == 3
                && now.Replicas.All(r => r.Role != "Stopped" && r.AppliedIndex == leader.CommitIndex);
        }, TimeSpan.FromSeconds(30), $"replica {leaderId} restarts from storage and catches up");
        output.WriteLine($"{leaderId} was claimed {test.Faults.ClaimsOf(leaderId) - claimsBefore} more time(s)");

        foreach (var key in keys)
        {
            Assert.Equal(key, Encoding.UTF8.GetString((await client.GetAsync(key))!.Value.Value));
        }
    }

    [Fact]
    public async Task A_leader_whose_store_refuses_writes_even_to_activate_it_leaves_the_shard_to_the_others()
    {
        await using var test = await TestCluster.StartAsync(silos: 3, shards: 1);
        var client = test.Client;
        var keys = KeysOfShard(client, 0, 20);
        foreach (var key in keys.Take(10))
        {
            await client.PutAsync(key, Encoding.UTF8.GetBytes(key));
        }

        var status = await LeaderOf(client, 0);
        var leaderId = TestCluster.KeyOf(status.Replicas.Single(r => r.Replica == status.Leader));
        var claimsBefore = test.Faults.ClaimsOf(leaderId);
        // Its disk is full: the next save fails, the replica stops, and every activation after
        // that fails in its claim. The router's calls to it then throw the activation's own
        // exception (a local call) or a rejection (a remote one); the shard router once let the
        // first kind escape to the client raw, on every attempt, since it remembered the leader.
        var full = new StoreFullException("injected: the disk has 0 bytes free");
        test.Faults.FailClaims(leaderId, full);
        test.Faults.FailNextSave(leaderId, full);
        try
        {
            foreach (var key in keys.Skip(10))
            {
                await client.PutAsync(key, Encoding.UTF8.GetBytes(key));
            }

            foreach (var key in keys)
            {
                Assert.Equal(key, Encoding.UTF8.GetString((await client.GetAsync(key))!.Value.Value));
            }

            Assert.True(test.Faults.ClaimsOf(leaderId) > claimsBefore, "the full store's replica was never asked to come back");
            var now = await LeaderOf(client, 0);
            Assert.NotEqual(leaderId, TestCluster.KeyOf(now.Replicas.Single(r => r.Replica == now.Leader)));
        }
        finally
        {
            test.Faults.StopFailingClaims();
        }
    }
}

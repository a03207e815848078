using ActorCluster.Grains.Hosting;
using ActorCluster.Grains.Interfaces.Kv;
using ActorCluster.Grains.Raft;
using ActorCluster.Grains.Replicas;
using ActorCluster.Tests.Cluster;
using Microsoft.Extensions.DependencyInjection;
using static ActorCluster.Tests.Cluster.ClusterAssertions;

namespace ActorCluster.Tests.Security;

/// <summary>Only silos may call replica grains: a client connected to a gateway cannot forge Raft traffic.</summary>
public sealed class ReplicaSecurityClusterTests
{
    [Fact]
    public async Task A_client_connected_to_a_gateway_cannot_call_replica_grains()
    {
        await using var test = await TestCluster.StartAsync(shards: 1);
        var client = test.Client;
        await client.PutAsync("k", [1]);
        var status = await SpreadLeaderOf(client, 0);
        var leader = status.Replicas.Single(r => r.Replica == status.Leader);
        var follower = status.Replicas.First(r => r.Replica != status.Leader);
        var grains = test.Cluster.Client;

        var leaderGrain = grains.GetGrain<IRaftReplicaGrain>(TestCluster.KeyOf(leader));
        await Assert.ThrowsAsync<UnauthorizedAccessException>(() => leaderGrain.GetStatus());
        await Assert.ThrowsAsync<UnauthorizedAccessException>(() => leaderGrain.TransferLeadership(follower.Replica));
        await Assert.ThrowsAsync<UnauthorizedAccessException>(() => leaderGrain.Propose(new WriteRequest(WriteKind.Put, "k", [66], 0, 1, 1, 0)));
        await Assert.ThrowsAsync<UnauthorizedAccessException>(() => leaderGrain.Read("k", ReadConsistency.Linearizable));

        // A forged TimeoutNow would make the follower campaign at once; one-way, so it can only be dropped.
        var forged = new Message { Type = MessageType.TimeoutNow, From = leader.Replica, To = follower.Replica, Term = leader.Term };
        await grains.GetGrain<IRaftReplicaGrain>(TestCluster.KeyOf(follower)).Deliver(new RaftEnvelope(RaftWireCodec.Encode([forged])));

        await EventuallyAsync(
            () => Task.FromResult(test.Cluster.Silos.Sum(s => s.ServiceProvider.GetRequiredService<ClientAccessFilter>().Refused) >= 5),
            TimeSpan.FromSeconds(10), "the filter refused all five calls");
        await Task.Delay(500);
        var after = await StatusOf(client, 0);
        Assert.Equal((status.Leader, leader.Term), (after.Leader, after.Replicas.Single(r => r.Replica == after.Leader).Term));
        Assert.Equal([1], (await client.GetAsync("k"))!.Value.Value);
    }
}

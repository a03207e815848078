using Xunit.Abstractions;
using static ActorCluster.Tests.Cluster.ClusterAssertions;

namespace ActorCluster.Tests.Cluster;

/// <summary>A silo that stops gracefully hands its leaderships over by transfer, not by an election timeout.</summary>
public sealed class GracefulStopClusterTests(ITestOutputHelper output)
{
    [Fact]
    public async Task Stopping_the_silo_of_a_leader_hands_leadership_over_by_transfer()
    {
        await using var test = await TestCluster.StartAsync(silos: 3, shards: 2);
        var client = test.Client;
        await client.PutAsync(KeysOfShard(client, 0, 1)[0], [1]);
        var status = await SpreadLeaderOf(client, 0);
        var leader = status.Replicas.Single(r => r.Replica == status.Leader);
        var victim = test.SiloOf(leader.Silo);
        output.WriteLine($"stopping {victim.SiloAddress}, which leads shard 0 with slot {leader.Replica} in term {leader.Term}");
        await test.Cluster.StopSiloAsync(victim);

        var after = await LeaderOf(client, 0);
        var successor = after.Replicas.Single(r => r.Replica == after.Leader);
        output.WriteLine($"shard 0 is led by slot {successor.Replica} in term {successor.Term}, by transfer: {successor.LeadsByTransfer}");
        Assert.NotEqual(leader.Silo, successor.Silo);
        // The successor won the election the old leader asked for (TimeoutNow), in the very next term.
        Assert.True(successor.LeadsByTransfer, "the successor was elected by an election timeout, not by a transfer");
        Assert.Equal(leader.Term + 1, successor.Term);
        await client.PutAsync(KeysOfShard(client, 0, 2)[1], [2]);
    }
}

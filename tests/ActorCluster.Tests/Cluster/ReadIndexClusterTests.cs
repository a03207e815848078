using System.Diagnostics;
using ActorCluster.Grains.Replicas;
using Microsoft.Extensions.DependencyInjection;
using Xunit.Abstractions;
using static ActorCluster.Tests.Cluster.ClusterAssertions;

namespace ActorCluster.Tests.Cluster;

/// <summary>Linearizable reads when the messages of a ReadIndex round are lost.</summary>
public sealed class ReadIndexClusterTests(ITestOutputHelper output)
{
    [Fact]
    public async Task A_read_round_whose_heartbeats_were_lost_completes_once_the_network_heals()
    {
        // An election timeout of 1-2 s and heartbeats every 100 ms: a 300 ms cut loses the read
        // round's heartbeats and a few periodic ones, but moves no leadership.
        await using var test = await TestCluster.StartAsync(silos: 3, shards: 1, settings: new Dictionary<string, string?>
        {
            ["ActorCluster:Silo:FaultInjection"] = "true",
            ["ActorCluster:Raft:TickMilliseconds"] = "50",
            ["ActorCluster:Raft:ElectionTicks"] = "20",
            ["ActorCluster:Raft:HeartbeatTicks"] = "2",
        });
        var client = test.Client;
        var version = await client.PutAsync("read-me", [42]);
        var status = await SpreadLeaderOf(client, 0);
        var leader = status.Replicas.Single(r => r.Replica == status.Leader);
        var leaderSilo = test.SiloOf(leader.Silo);
        var followers = test.Cluster.Silos.Where(s => s != leaderSilo).ToList();

        // The followers' silos drop every Raft message from the leader's silo: the round's heartbeats are lost.
        foreach (var silo in followers)
        {
            silo.ServiceProvider.GetRequiredService<NetworkFaults>().Block([TestCluster.EndpointOf(leaderSilo)]);
        }

        var read = client.GetAsync("read-me");
        await Task.Delay(300);
        Assert.False(read.IsCompleted, "the read completed although the leader could not reach a quorum");
        foreach (var silo in followers)
        {
            silo.ServiceProvider.GetRequiredService<NetworkFaults>().Heal();
        }

        var watch = Stopwatch.StartNew();
        var entry = await read;
        output.WriteLine($"the read completed {watch.ElapsedMilliseconds} ms after the network healed");
        Assert.Equal(version, entry!.Value.Version);
        // A later heartbeat carries the round again: no need to wait out the replica's 5 s limit.
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(2), $"the read took {watch.Elapsed} after healing");

        // Reads queued behind it are not held up either, and the leadership never moved.
        watch.Restart();
        Assert.Equal(version, (await client.GetAsync("read-me"))!.Value.Version);
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(2), $"the next read took {watch.Elapsed}");
        var after = await LeaderOf(client, 0);
        Assert.Equal((status.Leader, leader.Term), (after.Leader, after.Replicas.Single(r => r.Replica == after.Leader).Term));
    }
}

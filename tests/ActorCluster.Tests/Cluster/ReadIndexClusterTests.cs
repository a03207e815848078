using System.Diagnostics;
using ActorCluster.Grains.Replicas;
using Microsoft.Extensions.DependencyInjection;
using Xunit.Abstractions;
using static ActorCluster.Tests.Cluster.ClusterAssertions;

namespace ActorCluster.Tests.Cluster;

/// <summary>Linearizable reads when a leader is cut off: its lease, then ReadIndex rounds whose messages are lost.</summary>
public sealed class ReadIndexClusterTests(ITestOutputHelper output)
{
    [Fact]
    public async Task A_read_round_whose_heartbeats_were_lost_completes_once_the_network_heals()
    {
        // An election timeout of 1-2 s and heartbeats every 100 ms: a 300 ms cut loses the read
        // round's heartbeats and a few periodic ones, but moves no leadership. No leases: every
        // read takes a round.
        await using var test = await TestCluster.StartAsync(silos: 3, shards: 1, settings: new Dictionary<string, string?>
        {
            ["ActorCluster:Silo:FaultInjection"] = "true",
            ["ActorCluster:Raft:TickMilliseconds"] = "50",
            ["ActorCluster:Raft:ElectionTicks"] = "20",
            ["ActorCluster:Raft:HeartbeatTicks"] = "2",
            ["ActorCluster:Raft:LeaseReads"] = "false",
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

    [Fact]
    public async Task A_leader_cut_off_from_its_followers_answers_reads_while_its_lease_lasts_and_not_after()
    {
        // Stickiness (ElectionTicks - 1) x 50 ms = 950 ms; a 500 ms lease fits a clock-rate ratio of 1.5.
        await using var test = await TestCluster.StartAsync(silos: 3, shards: 1, settings: new Dictionary<string, string?>
        {
            ["ActorCluster:Silo:FaultInjection"] = "true",
            ["ActorCluster:Raft:TickMilliseconds"] = "50",
            ["ActorCluster:Raft:ElectionTicks"] = "20",
            ["ActorCluster:Raft:HeartbeatTicks"] = "2",
            ["ActorCluster:Raft:LeaseMilliseconds"] = "500",
            // Not quiescing: store liveness would have the followers elect a new leader within
            // 600 ms of the cut, which then answers the late read through the router (correctly).
            // Here the followers wait out their election timeout, so only the old leader can answer.
            ["ActorCluster:Raft:Quiesce"] = "false",
        });
        var client = test.Client;
        var version = await client.PutAsync("leased", [7]);
        var status = await SpreadLeaderOf(client, 0);
        var leader = status.Replicas.Single(r => r.Replica == status.Leader);
        var leaderSilo = test.SiloOf(leader.Silo);
        var followers = test.Cluster.Silos.Where(s => s != leaderSilo).ToList();
        // Reads keep the lease fresh (each heartbeat round renews it) until the cut.
        for (var i = 0; i < 5; i++)
        {
            Assert.Equal(version, (await client.GetAsync("leased"))!.Value.Version);
            await Task.Delay(50);
        }

        using var metrics = new MetricRecorder(ReplicaMetrics.MeterName);
        var watch = Stopwatch.StartNew();
        foreach (var silo in followers)
        {
            silo.ServiceProvider.GetRequiredService<NetworkFaults>().Block([TestCluster.EndpointOf(leaderSilo)]);
        }

        // Within the lease: answered by the leader alone, though no quorum can hear it.
        var early = await client.GetAsync("leased");
        Assert.Equal(version, early!.Value.Version);
        var answeredAt = watch.Elapsed;
        Assert.True(answeredAt < TimeSpan.FromMilliseconds(400), $"the read under the lease took {answeredAt}");
        Assert.True(metrics["actorcluster.raft.lease_reads"] > 0, "the read was not answered under the lease");

        // After the lease: a read needs a quorum the leader cannot reach, so it waits.
        await Task.Delay(TimeSpan.FromMilliseconds(600) - watch.Elapsed);
        var late = client.GetAsync("leased");
        await Task.Delay(300);
        Assert.False(late.IsCompleted, $"a read started {watch.Elapsed - TimeSpan.FromMilliseconds(300)} after the cut completed without a quorum");
        output.WriteLine($"under the lease: answered {answeredAt.TotalMilliseconds:0} ms after the cut; after it: still waiting at {watch.ElapsedMilliseconds} ms");
        foreach (var silo in followers)
        {
            silo.ServiceProvider.GetRequiredService<NetworkFaults>().Heal();
        }

        Assert.Equal(version, (await late)!.Value.Version);
    }
}

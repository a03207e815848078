using ActorCluster.Grains.Replicas;
using Microsoft.Extensions.DependencyInjection;
using Xunit.Abstractions;
using static ActorCluster.Tests.Cluster.ClusterAssertions;

namespace ActorCluster.Tests.Cluster;

/// <summary>Idle shards quiesce and cost no Raft messages; work and a lost leader wake them.</summary>
public sealed class QuiescenceClusterTests(ITestOutputHelper output)
{
    private const int Shards = 4;

    private static async Task<bool> AllQuiescedAsync(TestCluster test)
    {
        for (var shard = 0; shard < Shards; shard++)
        {
            var status = await StatusOf(test.Client, shard);
            if (status.Replicas.Count < 3 || !status.Replicas.All(r => r.Quiesced))
            {
                return false;
            }
        }

        return true;
    }

    [Fact]
    public async Task An_idle_cluster_quiesces_sends_no_raft_messages_and_wakes_on_the_next_write()
    {
        await using var test = await TestCluster.StartAsync(silos: 3, shards: Shards, settings: new Dictionary<string, string?>
        {
            ["ActorCluster:Raft:Quiesce"] = "true",
        });
        var client = test.Client;
        for (var shard = 0; shard < Shards; shard++)
        {
            await client.PutAsync(KeysOfShard(client, shard, 1)[0], [1]);
        }

        var settled = await EventuallyAsync(() => AllQuiescedAsync(test), TimeSpan.FromSeconds(20), "every replica quiesced");
        output.WriteLine($"all replicas quiesced {settled.TotalMilliseconds:0} ms after the last write");

        // This cluster's stores (the meter is process-wide, and other tests run clusters too).
        var ours = (await StatusOf(client, 0)).Replicas.Select(r => r.Store).ToList();
        // Once the cluster has settled (leaders balanced, placement done: work that wakes shards),
        // whole two-second windows pass without a single Raft message. Awake, these four shards
        // would send about 800 batches every two seconds (a heartbeat to each of two followers
        // every 40 ms, and their answers).
        long SuspicionsSoFar() => test.Cluster.Silos.Sum(s => s.ServiceProvider.GetRequiredService<StoreLiveness>().Suspicions);
        for (var attempt = 1; ; attempt++)
        {
            await EventuallyAsync(() => AllQuiescedAsync(test), TimeSpan.FromSeconds(20), "every replica quiesced");
            var suspicions = SuspicionsSoFar();
            using var metrics = new MetricRecorder(ReplicaMetrics.MeterName);
            await Task.Delay(TimeSpan.FromSeconds(2));
            var sent = ours.Sum(store => metrics[$"actorcluster.raft.message_batches[store={store}]"]);
            output.WriteLine($"window {attempt}: {sent} batches, {SuspicionsSoFar() - suspicions} suspicions");
            if (sent == 0)
            {
                Assert.True(await AllQuiescedAsync(test), "a replica woke with no work to do");
                break;
            }

            Assert.True(attempt < 10, $"ten windows of two seconds and none without Raft messages ({sent} in the last)");
        }

        using (var metrics = new MetricRecorder(ReplicaMetrics.MeterName))
        {
            // ...and the counter counts: a write sends batches from its leader's store.
            await client.PutAsync(KeysOfShard(client, 0, 3)[2], [3]);
            Assert.True(ours.Sum(store => metrics[$"actorcluster.raft.message_batches[store={store}]"]) > 0);
        }

        // A write wakes its shard and commits at once; its shard quiesces again afterwards.
        var key = KeysOfShard(client, 2, 2)[1];
        var watch = System.Diagnostics.Stopwatch.StartNew();
        var version = await client.PutAsync(key, [2]);
        output.WriteLine($"the first write to a quiesced shard took {watch.ElapsedMilliseconds} ms");
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(2), $"the write took {watch.Elapsed}");
        Assert.Equal(version, (await client.GetAsync(key))!.Value.Version);
        await EventuallyAsync(() => AllQuiescedAsync(test), TimeSpan.FromSeconds(20), "every replica quiesced again");
    }

    [Fact]
    public async Task Followers_of_a_quiesced_leader_whose_silo_stops_answering_wake_and_elect_another()
    {
        await using var test = await TestCluster.StartAsync(silos: 3, shards: Shards, settings: new Dictionary<string, string?>
        {
            ["ActorCluster:Silo:FaultInjection"] = "true",
            ["ActorCluster:Raft:Quiesce"] = "true",
        });
        var client = test.Client;
        var key = KeysOfShard(client, 1, 1)[0];
        await client.PutAsync(key, [1]);
        var before = await SpreadLeaderOf(client, 1);
        await EventuallyAsync(() => AllQuiescedAsync(test), TimeSpan.FromSeconds(20), "every replica quiesced");
        var leader = before.Replicas.Single(r => r.Replica == before.Leader);
        var leaderSilo = test.SiloOf(leader.Silo);

        // The other silos stop hearing the leader's silo: its Raft messages and its store liveness
        // pulses are dropped. Nothing else would wake the quiesced followers.
        foreach (var silo in test.Cluster.Silos.Where(s => s != leaderSilo))
        {
            silo.ServiceProvider.GetRequiredService<NetworkFaults>().Block([TestCluster.EndpointOf(leaderSilo)]);
        }

        var elected = await EventuallyAsync(
            async () => await StatusOf(client, 1) is { } s && s.Replicas.Any(r => r.Role == "Leader" && r.Replica != before.Leader && r.Term > leader.Term),
            TimeSpan.FromSeconds(10),
            "a new leader among the followers");
        output.WriteLine($"a new leader {elected.TotalMilliseconds:0} ms after the cut");
        // The followers' silos suspect the leader's store; the leader's silo suspects nobody (it still hears them).
        var leaderStore = Convert.ToUInt64(leader.Store, 16);
        Assert.All(test.Cluster.Silos.Where(s => s != leaderSilo), s => Assert.Contains(leaderStore, s.ServiceProvider.GetRequiredService<StoreLiveness>().Suspected));
        Assert.Empty(leaderSilo.ServiceProvider.GetRequiredService<StoreLiveness>().Suspected);
        Assert.True(elected < TimeSpan.FromSeconds(3), $"electing a new leader took {elected}");
        // The shard takes writes again (the old leader learns of the new term and steps down).
        var version = await client.PutAsync(key, [2]);
        Assert.Equal(version, (await client.GetAsync(key))!.Value.Version);
    }
}

using ActorCluster.Client;
using ActorCluster.Grains.Interfaces.Kv;
using ActorCluster.Grains.Replicas;
using Microsoft.Extensions.DependencyInjection;
using Xunit.Abstractions;
using static ActorCluster.Tests.Cluster.ClusterAssertions;

namespace ActorCluster.Tests.Cluster;

/// <summary>1 MiB values: byte-bounded logs, the shard quota, and snapshots larger than one Orleans message.</summary>
public sealed class LargeValueClusterTests(ITestOutputHelper output)
{
    private const int Mib = 1 << 20;

    [Fact]
    public async Task Writing_1_MiB_values_fills_the_shard_to_its_quota_and_no_further_while_memory_stays_bounded()
    {
        await using var test = await TestCluster.StartAsync(silos: 3, shards: 1, settings: new Dictionary<string, string?>
        {
            ["ActorCluster:KeyValue:QuotaBytesPerShard"] = $"{20 * Mib}",
            // Entry counts alone would never snapshot here: the byte bounds must.
            ["ActorCluster:Raft:SnapshotEntries"] = "10000",
            ["ActorCluster:Raft:RetainEntries"] = "1000",
            ["ActorCluster:Raft:SnapshotBytes"] = $"{4 * Mib}",
            ["ActorCluster:Raft:RetainBytes"] = $"{1 * Mib}",
        });
        var client = test.Client;
        var value = new byte[KeyRules.MaxValueBytes];
        var stored = 0;
        QuotaExceededException? full = null;
        for (var i = 0; i < 40 && full is null; i++)
        {
            try
            {
                await client.PutAsync($"big-{i}", value);
                stored++;
            }
            catch (QuotaExceededException e)
            {
                full = e;
            }
        }

        Assert.NotNull(full);
        Assert.False(full.OutcomeUnknown);
        Assert.Equal(19, stored);
        output.WriteLine($"{stored} values of 1 MiB stored, then: {full.Message}");

        // The shard stays full, writes keep coming (each a 1 MiB log entry) and are refused...
        for (var i = 0; i < 10; i++)
        {
            await Assert.ThrowsAsync<QuotaExceededException>(() => client.PutAsync($"more-{i}", value));
        }

        // ...while everything that does not grow the shard still works: reads, same-size
        // replacements, deletes, and a write once a delete made room.
        Assert.Equal(value.Length, (await client.GetAsync("big-0"))!.Value.Value.Length);
        await client.PutAsync("big-0", value);
        Assert.True(await client.DeleteAsync("big-1"));
        await client.PutAsync("after-delete", value);

        var status = await StatusOf(client, 0);
        Assert.Equal(3, status.Replicas.Count);
        foreach (var replica in status.Replicas)
        {
            output.WriteLine($"replica {replica.Replica}: data {replica.DataBytes / (double)Mib:0.0} MiB, log {replica.LogBytes / (double)Mib:0.0} MiB, snapshot at {replica.SnapshotIndex} ({replica.SnapshotBytes / (double)Mib:0.0} MiB)");
            Assert.True(replica.DataBytes <= 20 * Mib, $"replica {replica.Replica} holds {replica.DataBytes} bytes");
            Assert.True(replica.SnapshotIndex > 0, $"replica {replica.Replica} never snapshotted");
            // Snapshot every 4 MiB applied, 1 MiB kept: never the 31 MiB written.
            Assert.True(replica.LogBytes <= 7 * Mib, $"replica {replica.Replica} holds {replica.LogBytes} bytes of log");
        }
    }

    [Fact]
    public async Task Concurrent_reads_of_large_values_never_make_a_batch_answer_larger_than_an_Orleans_message()
    {
        await using var test = await TestCluster.StartAsync(silos: 3, shards: 1, settings: new Dictionary<string, string?>
        {
            // Eight 1 MiB values read together would be an 8 MiB answer.
            ["Orleans:Messaging:MaxMessageBodySize"] = $"{4 * Mib}",
        });
        var client = test.Client;
        var value = new byte[KeyRules.MaxValueBytes];
        for (var i = 0; i < 8; i++)
        {
            value[0] = (byte)i;
            await client.PutAsync($"large-{i}", value);
        }

        var before = client.CallsSent;
        for (var round = 0; round < 5; round++)
        {
            var reads = await Task.WhenAll(Enumerable.Range(0, 8).Select(i => client.GetAsync($"large-{i}")));
            for (var i = 0; i < 8; i++)
            {
                Assert.Equal(KeyRules.MaxValueBytes, reads[i]!.Value.Value.Length);
                Assert.Equal((byte)i, reads[i]!.Value.Value[0]);
            }
        }

        var after = client.CallsSent;
        output.WriteLine($"{after.Operations - before.Operations} reads in {after.Calls - before.Calls} calls");
        Assert.True(after.Calls - before.Calls < after.Operations - before.Operations, "the reads travelled in batches");
    }

    [Fact]
    public async Task A_follower_catches_up_by_a_chunked_snapshot_larger_than_an_Orleans_message()
    {
        await using var test = await TestCluster.StartAsync(silos: 3, shards: 1, settings: new Dictionary<string, string?>
        {
            ["ActorCluster:Silo:FaultInjection"] = "true",
            ["ActorCluster:Raft:SnapshotEntries"] = "10000",
            ["ActorCluster:Raft:SnapshotBytes"] = $"{4 * Mib}",
            ["ActorCluster:Raft:RetainBytes"] = $"{1 * Mib}",
            ["ActorCluster:Raft:SnapshotChunkBytes"] = $"{1 * Mib}",
            // The whole snapshot (12 MiB) could never travel as one message.
            ["Orleans:Messaging:MaxMessageBodySize"] = $"{4 * Mib}",
            // The cut-off follower must catch up, not be replaced as silent for too long.
            ["ActorCluster:Ring:DeadStoreGraceSeconds"] = "600",
        });
        var client = test.Client;
        await client.PutAsync("first", [1]);
        var status = await SpreadLeaderOf(client, 0);
        var lagging = status.Replicas.First(r => r.Replica != status.Leader);
        var laggingSilo = test.SiloOf(lagging.Silo);
        var others = test.Cluster.Silos.Where(s => s != laggingSilo).Select(TestCluster.EndpointOf).ToList();
        using var metrics = new MetricRecorder(ReplicaMetrics.MeterName);
        laggingSilo.ServiceProvider.GetRequiredService<NetworkFaults>().Block(others);

        var value = new byte[Mib - 64];
        for (var i = 0; i < 12; i++)
        {
            value[0] = (byte)i;
            await client.PutAsync($"big-{i}", value);
        }

        var leader = (await LeaderOf(client, 0)).Replicas.Single(r => r.Role == "Leader");
        Assert.True(leader.LogBytes < 6 * Mib, $"the leader kept {leader.LogBytes} bytes of log");

        // Raft traffic flows again, but snapshot chunks are refused for a while: every transfer
        // fails, and the leader must keep starting new ones rather than wait on a failed one.
        var faults = laggingSilo.ServiceProvider.GetRequiredService<NetworkFaults>();
        faults.Heal();
        faults.BlockSnapshots(others);
        await EventuallyAsync(() => Task.FromResult(metrics["actorcluster.raft.snapshot_chunks_sent"] >= 3), TimeSpan.FromSeconds(30), "the leader tried to send the snapshot again and again");
        Assert.Equal(0, metrics["actorcluster.raft.snapshots_sent"]);
        faults.Heal();

        var took = await EventuallyAsync(async () =>
        {
            var now = await StatusOf(client, 0);
            var follower = now.Replicas.SingleOrDefault(r => r.Replica == lagging.Replica);
            var current = now.Replicas.SingleOrDefault(r => r.Replica == now.Leader);
            return follower is not null && current is not null && follower.SnapshotIndex > 0 && follower.AppliedIndex == current.CommitIndex && follower.Keys == 13;
        }, TimeSpan.FromSeconds(60), $"replica {lagging.Replica} catches up by snapshot");
        // The follower applies the snapshot before the leader hears the last chunk's answer and
        // counts the transfer as sent: the count may trail the status by a moment.
        await EventuallyAsync(() => Task.FromResult(metrics["actorcluster.raft.snapshots_sent"] >= 1), TimeSpan.FromSeconds(10), "the leader counts the snapshot as sent");
        output.WriteLine($"caught up {took.TotalSeconds:0.0}s after healing; {metrics["actorcluster.raft.snapshot_chunks_sent"]} chunks sent in {metrics["actorcluster.raft.snapshots_sent"]} snapshot(s)");
        Assert.True(metrics["actorcluster.raft.snapshot_chunks_sent"] >= 12, $"{metrics["actorcluster.raft.snapshot_chunks_sent"]} chunks");

        var after = await StatusOf(client, 0);
        Assert.Equal(13, after.Replicas.Single(r => r.Replica == lagging.Replica).Keys);
        Assert.Equal([(byte)11], (await client.GetAsync("big-11"))!.Value.Value.Take(1));
    }
}

using ActorCluster.Grains.Interfaces;
using ActorCluster.Grains.Interfaces.Kv;
using ActorCluster.Grains.Shards;
using Microsoft.Extensions.DependencyInjection;
using static ActorCluster.Tests.Cluster.ClusterAssertions;

namespace ActorCluster.Tests.Cluster;

/// <summary>
/// Batches end to end: a shard answers a batch in order, each operation as if it had been sent
/// alone, reaches the leader from a follower, applies a retried batch's writes once, and the
/// client's concurrent operations really travel together.
/// </summary>
public sealed class BatchClusterTests
{
    [Fact]
    public async Task A_batch_sent_to_a_follower_is_answered_in_order_and_a_retried_batch_applies_once()
    {
        await using var test = await TestCluster.StartAsync(shards: 1);
        var client = test.Client;
        var seen = await client.PutAsync("seen", [7]);
        var status = await SpreadLeaderOf(client, 0);
        var follower = status.Replicas.First(r => r.Replica != status.Leader).Replica;
        // Every silo's router believes a follower leads: the batch goes there first and must follow
        // the follower's redirect to the leader, whole.
        var directories = test.Cluster.Silos.Select(s => s.ServiceProvider.GetRequiredService<ShardDirectory>()).ToList();
        directories.ForEach(d => d.RememberLeader(0, follower));

        var shard = test.Cluster.Client.GetGrain<IShardGrain>(0);
        var token = SessionTokens.Create();
        var session = (await shard.Write(WriteRequest.OpenSession(token))).Version;
        directories.ForEach(d => d.RememberLeader(0, follower));
        const int Puts = 40;
        KvOperation[] operations =
        [
            .. Enumerable.Range(0, Puts).Select(i => KvOperation.Of(new WriteRequest(WriteKind.Put, $"b{i}", [(byte)i], 0, session, (ulong)i + 1, 0, token))),
            KvOperation.Of(new WriteRequest(WriteKind.CompareAndSwap, "seen", [8], 999, session, Puts + 1, 0, token)),
            KvOperation.Of(new WriteRequest(WriteKind.Put, string.Empty, [1], 0, session, Puts + 2, 0, token)),
            new KvOperation(null),
            KvOperation.OfRead("seen", ReadConsistency.Linearizable),
            KvOperation.OfRead("missing", ReadConsistency.Stale),
            KvOperation.Of(new WriteRequest(WriteKind.Delete, "nothing", null, 0, session, Puts + 3, 0, token)),
        ];

        var answers = await shard.Execute(operations);
        Assert.Equal(operations.Length, answers.Length);
        var versions = answers.Take(Puts).Select(a => (a.Status, a.Version)).ToList();
        Assert.All(versions, v => Assert.Equal(KvStatus.Ok, v.Status));
        Assert.True(versions.Select(v => v.Version).SequenceEqual(versions.Select(v => v.Version).Order()) && versions.Select(v => v.Version).Distinct().Count() == Puts, "puts apply in batch order");
        Assert.Equal((KvStatus.VersionMismatch, seen), (answers[Puts].Status, answers[Puts].Version));
        Assert.Equal(KvStatus.InvalidRequest, answers[Puts + 1].Status);
        Assert.Equal(KvStatus.InvalidRequest, answers[Puts + 2].Status);
        Assert.Equal(KvStatus.Ok, answers[Puts + 3].Status);
        Assert.Equal(new byte[] { 7 }, answers[Puts + 3].Value);
        Assert.Equal(KvStatus.NotFound, answers[Puts + 4].Status);
        Assert.Equal(KvStatus.NotFound, answers[Puts + 5].Status);
        // The redirect taught the routers the real leader.
        Assert.Contains(directories, d => d.Of(0)?.Leader == status.Leader);

        // The whole batch again, as a client retries after a lost answer: every write answers as
        // the first time (same versions), and nothing applies twice.
        var again = await shard.Execute(operations);
        for (var i = 0; i < Puts; i++)
        {
            Assert.Equal(answers[i], again[i]);
        }

        Assert.Equal(answers[Puts], again[Puts]);
        for (var i = 0; i < Puts; i++)
        {
            Assert.Equal(answers[i].Version, (await client.GetAsync($"b{i}"))!.Value.Version);
        }
    }

    [Fact]
    public async Task A_batch_over_the_limit_is_refused_whole_and_changes_nothing()
    {
        await using var test = await TestCluster.StartAsync(shards: 1);
        var shard = test.Cluster.Client.GetGrain<IShardGrain>(0);
        var operations = Enumerable.Range(0, ShardGrain.MaxBatchOperations + 1)
            .Select(i => KvOperation.Of(new WriteRequest(WriteKind.Put, $"over{i}", [1], 0, 0, 0, 0, SessionTokens.Create())))
            .ToArray();
        var answers = await shard.Execute(operations);
        Assert.All(answers, a => Assert.Equal(KvStatus.InvalidRequest, a.Status));
        Assert.Contains("at most", answers[0].Error);
        Assert.Null(await test.Client.GetAsync("over0"));
    }

    [Fact]
    public async Task A_clients_concurrent_operations_travel_together_and_each_is_answered_right()
    {
        await using var test = await TestCluster.StartAsync(shards: 1);
        var client = test.Client;
        await client.PutAsync("warm", [0]);
        var before = client.CallsSent;
        var versions = await Task.WhenAll(Enumerable.Range(0, 300).Select(i => client.PutAsync($"c{i}", BitConverter.GetBytes(i))));
        var reads = await Task.WhenAll(Enumerable.Range(0, 300).Select(i => client.GetAsync($"c{i}")));
        var after = client.CallsSent;

        var (calls, operations) = (after.Calls - before.Calls, after.Operations - before.Operations);
        Assert.Equal(600, operations);
        Assert.True(calls < operations / 4, $"{calls} calls carried {operations} operations");
        Assert.Equal(300, versions.Distinct().Count());
        for (var i = 0; i < 300; i++)
        {
            Assert.Equal(BitConverter.GetBytes(i), reads[i]!.Value.Value);
            Assert.Equal(versions[i], reads[i]!.Value.Version);
        }
    }
}

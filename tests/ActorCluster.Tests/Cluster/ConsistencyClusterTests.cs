using System.Text;
using ActorCluster.Client;
using ActorCluster.Grains.Interfaces.Kv;
using static ActorCluster.Tests.Cluster.ClusterAssertions;

namespace ActorCluster.Tests.Cluster;

/// <summary>Races between clients, bad input, and fencing of duplicate activations.</summary>
public sealed class ConsistencyClusterTests
{
    [Fact]
    public async Task Concurrent_compare_and_swaps_from_many_clients_have_exactly_one_winner_per_round()
    {
        await using var test = await TestCluster.StartAsync();
        var clients = await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => ActorClusterClient.FromClusterClientAsync(test.Cluster.Client)));
        var version = await test.Client.PutAsync("contended", "0"u8.ToArray());
        for (var round = 1; round <= 10; round++)
        {
            var expected = version;
            var results = await Task.WhenAll(clients.Select((c, i) => c.CompareAndSwapAsync("contended", expected, Encoding.UTF8.GetBytes($"{round}:{i}"))));
            var winners = results.Where(r => r.Succeeded).ToList();
            Assert.Single(winners);
            Assert.All(results.Where(r => !r.Succeeded), r => Assert.Equal(winners[0].Version, r.Version));
            version = winners[0].Version;
            var value = Encoding.UTF8.GetString((await test.Client.GetAsync("contended"))!.Value.Value);
            Assert.StartsWith($"{round}:", value, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task Bad_input_gets_its_typed_error_and_changes_nothing()
    {
        await using var test = await TestCluster.StartAsync();
        var client = test.Client;
        await client.PutAsync("keep", "safe"u8.ToArray());
        await Assert.ThrowsAsync<InvalidKeyException>(() => client.PutAsync("", [1]));
        await Assert.ThrowsAsync<InvalidKeyException>(() => client.GetAsync(""));
        await Assert.ThrowsAsync<InvalidKeyException>(() => client.PutAsync(new string('k', KeyRules.MaxKeyBytes + 1), [1]));
        await Assert.ThrowsAsync<InvalidKeyException>(() => client.DeleteAsync(new string('é', 513)));
        await Assert.ThrowsAsync<InvalidKeyException>(() => client.PutAsync("keep\uD800", [1]));
        await Assert.ThrowsAsync<InvalidKeyException>(() => client.GetAsync("keep\uDC00"));
        await Assert.ThrowsAsync<ValueTooLargeException>(() => client.PutAsync("keep", new byte[KeyRules.MaxValueBytes + 1]));
        await Assert.ThrowsAsync<ValueTooLargeException>(() => client.CompareAndSwapAsync("keep", 1, new byte[KeyRules.MaxValueBytes + 1]));
        Assert.Equal("safe", Encoding.UTF8.GetString((await client.GetAsync("keep"))!.Value.Value));
        Assert.Null(await client.GetAsync(new string('k', KeyRules.MaxKeyBytes)));

        // The silo checks again: a request that bypasses the client library is refused the same way.
        var shard = test.Cluster.Client.GetGrain<Grains.Interfaces.IShardGrain>(0);
        var response = await shard.Write(new WriteRequest(WriteKind.Put, "", [1], 0, 1, 1, 0, SessionTokens.Create()));
        Assert.Equal(KvStatus.InvalidRequest, response.Status);
        var noValue = await shard.Write(new WriteRequest(WriteKind.Put, "x", null, 0, 1, 2, 0, SessionTokens.Create()));
        Assert.Equal(KvStatus.InvalidRequest, noValue.Status);

        Assert.Null(await client.GetAsync("x"));
    }

    [Fact]
    public async Task A_shard_number_outside_the_ring_is_refused_and_creates_no_raft_group()
    {
        await using var test = await TestCluster.StartAsync(shards: 4);
        foreach (var phantom in new long[] { 4, 99, -1 })
        {
            var shard = test.Cluster.Client.GetGrain<Grains.Interfaces.IShardGrain>(phantom);
            var write = await shard.Write(WriteRequest.OpenSession(SessionTokens.Create()));
            Assert.Equal(KvStatus.InvalidRequest, write.Status);
            Assert.Contains("does not exist", write.Error, StringComparison.Ordinal);
            Assert.Equal(KvStatus.InvalidRequest, (await shard.Read("k", ReadConsistency.Linearizable)).Status);
            Assert.Empty((await shard.GetStatus()).Replicas);
        }

        // Nothing was persisted for a shard outside the ring (the founders of the four real shards
        // are created as the silos start).
        List<string> stored = [];
        await EventuallyAsync(async () => (stored = await test.StoredReplicaIdsAsync()).Count == 12, TimeSpan.FromSeconds(30), "every founder is created");
        Assert.All(stored, id => Assert.True(Grains.Replicas.ReplicaId.TryParse(id, out var s, out _, out _) && s < 4, id));
    }

    [Fact]
    public async Task A_fenced_off_activation_stops_without_answering_and_the_shard_carries_on()
    {
        await using var test = await TestCluster.StartAsync();
        var client = test.Client;
        const int shard = 0;
        var keys = KeysOfShard(client, shard, 20);
        foreach (var key in keys.Take(10))
        {
            await client.PutAsync(key, Encoding.UTF8.GetBytes(key));
        }

        var status = await SpreadLeaderOf(client, shard);
        var leader = status.Replicas.Single(r => r.Replica == status.Leader);
        var leaderId = TestCluster.KeyOf(leader);
        var activationsBefore = test.Faults.ClaimsOf(leaderId);
        // What a duplicate activation does first: claim the replica (directly in its store, not
        // through an activation). The running leader is now a zombie.
        await test.StoreWithId(leader.Store).ClaimAsync(leaderId);

        foreach (var key in keys.Skip(10))
        {
            await client.PutAsync(key, Encoding.UTF8.GetBytes(key));
        }

        foreach (var key in keys)
        {
            Assert.Equal(key, Encoding.UTF8.GetString((await client.GetAsync(key))!.Value.Value));
        }

        // The zombie stopped at its first fenced write, and a fresh activation claimed the replica
        // again (without fencing the zombie would run on and nobody would claim it).
        await EventuallyAsync(async () =>
        {
            var now = await StatusOf(client, shard);
            return test.Faults.ClaimsOf(leaderId) > activationsBefore && now.Replicas.Count == 3 && now.Replicas.All(r => r.Role != "Stopped");
        }, TimeSpan.FromSeconds(30), "the zombie stopped and a new activation of it runs");
    }
}

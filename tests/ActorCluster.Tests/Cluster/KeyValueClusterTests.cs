using System.Text;
using ActorCluster.Client;
using ActorCluster.Grains.Interfaces.Kv;

namespace ActorCluster.Tests.Cluster;

/// <summary>Every operation end to end on a three-silo cluster.</summary>
public sealed class KeyValueClusterTests
{
    [Fact]
    public async Task With_every_silo_gone_operations_fail_with_the_clients_typed_errors()
    {
        await using var test = await TestCluster.StartAsync();
        await using var client = await ActorClusterClient.FromClusterClientAsync(
            test.Cluster.Client, new ActorClusterClientOptions { TimeoutMilliseconds = 3_000, Retries = 2 });
        await client.PutAsync("before", [1]);
        foreach (var silo in test.Cluster.Silos.ToList())
        {
            await test.Cluster.KillSiloAsync(silo);
        }

        // Orleans's own exceptions (a refused message, say) must not reach the caller: a write
        // that may have arrived is an unknown outcome, one that surely did not is "unavailable".
        var write = await Assert.ThrowsAnyAsync<ActorClusterException>(() => client.PutAsync("after", [2]));
        Assert.True(write is ClusterUnavailableException or OperationTimeoutException { OutcomeUnknown: true }, write.GetType().Name);
        await Assert.ThrowsAnyAsync<ActorClusterException>(() => client.GetAsync("before"));
    }

    [Fact]
    public async Task Locate_shows_the_keys_place_on_the_ring_its_shard_and_the_shards_replicas_and_leader()
    {
        await using var test = await TestCluster.StartAsync(silos: 3, shards: 4);
        var client = test.Client;
        await client.PutAsync("located", [1]);
        var shard = client.ShardOf("located");
        var status = await ClusterAssertions.SpreadLeaderOf(client, shard);

        var where = await client.LocateAsync("located");
        Assert.Equal(Grains.Interfaces.Ring.KeyRing.Hash("located"), where.Hash);
        Assert.Equal(shard, where.Shard);
        Assert.InRange(where.Hash, where.ArcStart, ulong.MaxValue);
        Assert.True(where.Hash < where.ArcEnd, $"{where.Hash:x16} is past its arc {where.Arc}");
        // Four equal arcs: each a quarter of the ring.
        Assert.Equal(0.25, where.ArcShare, precision: 9);
        Assert.Equal(status.Leader, where.Leader);
        Assert.Equal(3, where.Replicas.Select(r => r.Silo).Distinct().Count());
        Assert.Contains(where.Replicas, r => r.Replica == where.Leader && r.Role == "Leader");

        await Assert.ThrowsAsync<InvalidKeyException>(() => client.LocateAsync(""));
    }

    [Fact]
    public async Task Sessions_expire_by_log_time_a_stale_retry_is_refused_and_an_idle_client_renews_its_own()
    {
        await using var test = await TestCluster.StartAsync(shards: 1, settings: new Dictionary<string, string?> { ["ActorCluster:KeyValue:SessionTtlSeconds"] = "1" });
        var shard = test.Cluster.Client.GetGrain<Grains.Interfaces.IShardGrain>(0);
        var token = SessionTokens.Create();
        var opened = await shard.Write(WriteRequest.OpenSession(token));
        Assert.Equal(KvStatus.Ok, opened.Status);
        var session = opened.Version;
        var first = await shard.Write(new WriteRequest(WriteKind.Put, "once", [1], 0, session, 1, 0, token));
        Assert.Equal(KvStatus.Ok, first.Status);
        // A retry within the session gets the first answer.
        Assert.Equal(first, await shard.Write(new WriteRequest(WriteKind.Put, "once", [1], 0, session, 1, 0, token)));

        // Another client keeps the log's clock moving for longer than the ttl.
        var busy = test.Client;
        await KeepTheClockMovingAsync(busy);

        await busy.DeleteAsync("once");
        var stale = await shard.Write(new WriteRequest(WriteKind.Put, "once", [1], 0, session, 1, 0, token));
        Assert.Equal(KvStatus.SessionExpired, stale.Status);
        Assert.Null(await busy.GetAsync("once"));

        // A client whose own session expired while it was idle just writes: it opens a new one.
        await using var idle = await ActorClusterClient.FromClusterClientAsync(test.Cluster.Client);
        await idle.PutAsync("idle", [1]);
        await KeepTheClockMovingAsync(busy);

        var version = await idle.PutAsync("idle", [2]);
        Assert.Equal(version, (await idle.GetAsync("idle"))!.Value.Version);

        static async Task KeepTheClockMovingAsync(ActorClusterClient busy)
        {
            for (var i = 0; i < 30; i++)
            {
                try
                {
                    await busy.PutAsync("clock", [(byte)i]);
                }
                catch (SessionExpiredException e) when (e.OutcomeUnknown)
                {
                    // With a one-second ttl, a write whose first attempt went unanswered (an
                    // election on a loaded machine) can outlive the busy client's own session: the
                    // client says so rather than risk applying it twice. Its next write opens a new one.
                }

                await Task.Delay(100);
            }
        }
    }

    [Fact]
    public async Task Put_get_delete_and_compare_and_swap_work_end_to_end()
    {
        await using var test = await TestCluster.StartAsync();
        var client = test.Client;
        var version = await client.PutAsync("alpha", "one"u8.ToArray());
        Assert.True(version > 0);
        var read = await client.GetAsync("alpha");
        Assert.Equal("one", Encoding.UTF8.GetString(read!.Value.Value));
        Assert.Equal(version, read.Value.Version);

        // A stale read may lag, but never shows a version that was not written, and catches up.
        await ClusterAssertions.EventuallyAsync(async () =>
        {
            var stale = await client.GetAsync("alpha", ReadConsistency.Stale);
            Assert.True(stale is null || stale.Value.Version == version, $"stale read saw version {stale?.Version}");
            return stale is { } seen && Encoding.UTF8.GetString(seen.Value) == "one";
        }, TimeSpan.FromSeconds(10), "a stale read returns the value written");

        var swapped = await client.CompareAndSwapAsync("alpha", version, "two"u8.ToArray());
        Assert.True(swapped.Succeeded);
        Assert.True(swapped.Version > version);
        var refused = await client.CompareAndSwapAsync("alpha", version, "three"u8.ToArray());
        Assert.Equal(new CasResult(false, swapped.Version), refused);
        Assert.Equal("two", Encoding.UTF8.GetString((await client.GetAsync("alpha"))!.Value.Value));

        Assert.True(await client.DeleteAsync("alpha"));
        Assert.False(await client.DeleteAsync("alpha"));
        Assert.Null(await client.GetAsync("alpha"));
        Assert.True((await client.CompareAndSwapAsync("alpha", 0, "created"u8.ToArray())).Succeeded);
    }
}

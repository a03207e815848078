using Microsoft.Extensions.DependencyInjection;
using ActorCluster.Grains.Interfaces;
using ActorCluster.Grains.Storage;
using Xunit.Abstractions;
using static ActorCluster.Tests.Cluster.ClusterAssertions;

namespace ActorCluster.Tests.Cluster;

/// <summary>
/// Every silo owns its data: replicas live on their store's silo, a lost disk is replaced by
/// membership changes under new ids (never re-opened or re-created), and a silo that joins takes
/// its share of replicas by the same means.
/// </summary>
public sealed class SharedNothingClusterTests(ITestOutputHelper output)
{
    [Fact]
    public async Task Every_replica_runs_on_the_silo_of_its_store_and_each_store_holds_only_its_own()
    {
        await using var test = await TestCluster.StartAsync(silos: 3, shards: 4);
        var statuses = new List<ShardStatus>();
        for (var shard = 0; shard < 4; shard++)
        {
            statuses.Add(await SpreadLeaderOf(test.Client, shard));
        }

        foreach (var replica in statuses.SelectMany(s => s.Replicas))
        {
            var silo = test.SiloOf(replica.Silo);
            var key = TestCluster.KeyOf(replica);
            var held = await test.StoreOf(silo.Name).ListReplicasAsync();
            if (!held.Contains(key))
            {
                // Say where it is, if anywhere: a store mix-up and a removal look alike otherwise.
                var presence = await test.StoreWithId(replica.Store).FindReplicaAsync(key);
                Assert.Fail($"{key} ({replica.Role}) runs on {silo.Name}, whose store holds [{string.Join(", ", held)}]; its own store says {presence}; now: {string.Join("; ", (await StatusOf(test.Client, replica.Shard)).Replicas.Select(r => $"{r.Replica} {r.Role} [{string.Join(",", r.Members ?? [])}]"))}");
            }
        }

        Assert.All(statuses, s => Assert.Equal(3, s.Replicas.Select(r => r.Store).Distinct().Count()));
    }

    [Fact]
    public async Task The_cluster_status_answers_at_once_when_no_router_knows_a_shard_yet()
    {
        // The ring's status asks every shard grain, which asks the ring for the founders: a call
        // cycle that must not wait on itself (it did, for Orleans' 30 s response timeout).
        await using var test = await TestCluster.StartAsync(silos: 3, shards: 4);
        var status = await test.Client.Cluster.GetGrain<IRingGrain>(IRingGrain.DefaultKey).GetStatus().WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(4, status.Shards.Count);
    }

    [Fact]
    public async Task A_wiped_silo_comes_back_as_a_new_store_and_its_old_replicas_are_replaced_never_reopened()
    {
        await using var test = await TestCluster.StartAsync(silos: 3, shards: 4, settings: TestCluster.FastFailureDetection);
        var client = test.Client;
        var acknowledged = await WriteAsync(client, "before", 40);
        var status = await SpreadLeaderOf(client, 0);
        var victim = test.SiloOf(status.Replicas.First(r => r.Replica != status.Leader).Silo);
        var oldStore = status.Replicas.Single(r => r.Silo == victim.SiloAddress.ToString()).Store;
        var name = victim.Name;

        await test.Cluster.KillSiloAsync(victim);
        await test.WipeStoreAsync(name);
        await test.StartAgainAsync(victim);
        foreach (var (key, version) in await WriteAsync(client, "during", 20))
        {
            acknowledged[key] = version;
        }

        // No shard keeps a member on the wiped store: each was removed and replaced (the placement
        // puts the replacement on the new store of the restarted silo).
        await EventuallyAsync(async () =>
        {
            for (var shard = 0; shard < 4; shard++)
            {
                var now = await StatusOf(client, shard);
                if (now.Leader == 0 || now.Replicas.Count != 3 || now.Replicas.Any(r => r.Store == oldStore || r.Role is not ("Leader" or "Follower"))
                    || now.Replicas.Select(r => r.Store).Distinct().Count() != 3)
                {
                    return false;
                }
            }

            return true;
        }, TimeSpan.FromSeconds(90), $"every shard has three voters and none on the wiped store {oldStore}");

        foreach (var (key, version) in acknowledged)
        {
            Assert.Equal(version, (await client.GetAsync(key))!.Value.Version);
        }
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_replica_whose_state_is_lost_stays_silent_and_is_replaced_under_a_new_id(bool restartQuickerThanSuspicion)
    {
        // Quiesced, the leader's view of its members is frozen: it learns that one came back
        // without its state only because store liveness wakes it, when the member's store is
        // suspected or (a restart quicker than the suspicion) heard from a new silo incarnation.
        await using var test = await TestCluster.StartAsync(silos: 3, shards: 1,
            settings: restartQuickerThanSuspicion ? new Dictionary<string, string?> { ["Raft:SuspectMilliseconds"] = "60000" } : null);
        var client = test.Client;
        var acknowledged = await WriteAsync(client, "k", 20);
        var status = await SpreadLeaderOf(client, 0);
        var follower = status.Replicas.First(r => r.Replica != status.Leader);
        var silo = test.SiloOf(follower.Silo);
        var name = silo.Name;
        var key = TestCluster.KeyOf(follower);

        // The group is idle: its leader no longer heartbeats, so nothing it sends would show it the
        // restarted follower is not the one it knew.
        await EventuallyAsync(async () => (await StatusOf(client, 0)).Replicas.All(r => r.Quiesced), TimeSpan.FromSeconds(30), "the idle group quiesces");

        // The follower's state is lost behind its store's back while its silo is down.
        await test.Cluster.KillSiloAsync(silo);
        await test.DeleteReplicaStateAsync(name, key);
        await test.StartAgainAsync(silo);

        ShardStatus? last = null;
        await EventuallyAsync(async () =>
        {
            var now = last = await StatusOf(client, 0);
            return now.Leader != 0 && now.Replicas.Count == 3 && now.Replicas.All(r => r.Replica != follower.Replica)
                && now.Replicas.All(r => r.Role is "Leader" or "Follower");
        }, TimeSpan.FromSeconds(90), () => $"replica {follower.Replica} replaced; last seen: {Describe(last)}");

        // It never voted: its hard state is still empty in its store.
        var state = await test.StoreOf(name).LoadAsync(await test.StoreOf(name).ClaimAsync(key));
        Assert.Equal(0UL, state.HardState.Term);
        Assert.Equal(ReplicaPresence.Initialized, await test.StoreOf(name).FindReplicaAsync(key));
        foreach (var (written, version) in acknowledged)
        {
            Assert.Equal(version, (await client.GetAsync(written))!.Value.Version);
        }
    }

    [Fact]
    public async Task A_silo_that_joins_takes_close_to_its_ideal_share_of_replicas_by_membership_change()
    {
        using var metrics = new MetricRecorder(Grains.Replicas.ReplicaMetrics.MeterName);
        const int shards = 8;
        await using var test = await TestCluster.StartAsync(silos: 3, shards: shards);
        for (var shard = 0; shard < shards; shard++)
        {
            await SpreadLeaderOf(test.Client, shard);
        }

        var addsBefore = metrics["actorcluster.raft.membership_changes[kind=add]"];
        var joined = await test.StartNewSiloAsync();
        var history = new List<int>();
        await EventuallyAsync(async () =>
        {
            var onNew = 0;
            for (var shard = 0; shard < shards; shard++)
            {
                var now = await StatusOf(test.Client, shard);
                if (now.Leader == 0 || now.Replicas.Count != 3 || now.Replicas.Select(r => r.Store).Distinct().Count() != 3)
                {
                    history.Clear();
                    await Task.Delay(1000);
                    return false;
                }

                onNew += now.Replicas.Count(r => r.Silo == joined.SiloAddress.ToString());
            }

            // Done when the new silo holds replicas and that has not changed for a few looks.
            history.Add(onNew);
            output.WriteLine($"{DateTime.UtcNow:HH:mm:ss.f}: {onNew} replicas on the new silo");
            await Task.Delay(1500);
            return onNew > 0 && history.Count >= 5 && history.TakeLast(5).Distinct().Count() == 1;
        }, TimeSpan.FromSeconds(90), "the new silo takes its share and the moves stop");

        // The moves, counted against the ideal R*S/(n+1).
        var adds = metrics["actorcluster.raft.membership_changes[kind=add]"] - addsBefore;
        var ideal = 3.0 * shards / 4;
        output.WriteLine($"a fourth silo: {adds} replicas added, ideal {ideal}");
        Assert.InRange(adds, 1, (long)(1.25 * ideal));
    }

    [Fact]
    public async Task A_silo_that_never_saw_the_group_finds_it_after_every_founder_was_replaced()
    {
        // Every founder of the shard is replaced, one wiped disk at a time. A silo that starts
        // afterwards knows nothing of the group but what the ring says: with only the founders
        // recorded there, its routers asked three replicas that no longer exist, for good (a chaos
        // run's final reads timed out this way).
        await using var test = await TestCluster.StartAsync(silos: 3, shards: 1, settings: TestCluster.FastFailureDetection);
        var client = test.Client;
        var acknowledged = await WriteAsync(client, "before", 10);
        foreach (var silo in test.Cluster.Silos.ToList())
        {
            var status = await LeaderOf(client, 0);
            var oldStore = status.Replicas.Single(r => r.Silo == silo.SiloAddress.ToString()).Store;
            await test.Cluster.KillSiloAsync(silo);
            await test.WipeStoreAsync(silo.Name);
            await test.StartAgainAsync(silo);
            await EventuallyAsync(async () =>
            {
                try
                {
                    var now = await StatusOf(client, 0);
                    return now.Leader != 0 && now.Replicas.Count == 3 && now.Replicas.All(r => r.Store != oldStore && r.Role is "Leader" or "Follower");
                }
                catch (OrleansException)
                {
                    // The client's gateway was on the killed silo: it moves to another.
                    return false;
                }
            }, TimeSpan.FromSeconds(90), $"the replica on wiped store {oldStore} is replaced");
        }

        // The leader reports each committed configuration to the ring (within its reconcile period).
        await EventuallyAsync(async () =>
            await client.Cluster.GetGrain<IRingGrain>(IRingGrain.DefaultKey).GetMembers(0) is { } members && members.Ids.Length == 3 && members.Ids.All(id => id > 3),
            TimeSpan.FromSeconds(30), "the ring records the group without its founders");

        var newcomer = await test.StartNewSiloAsync();
        var grains = newcomer.ServiceProvider.GetRequiredService<IGrainFactory>();
        foreach (var (key, version) in acknowledged)
        {
            // A stateless worker: the call from the new silo is routed by the new silo.
            var read = await grains.GetGrain<IShardGrain>(0).Read(key, ActorCluster.Grains.Interfaces.Kv.ReadConsistency.Linearizable).WaitAsync(TimeSpan.FromSeconds(30));
            Assert.True(read.Status == ActorCluster.Grains.Interfaces.Kv.KvStatus.Ok, $"{key}: {read.Status}: {read.Error}");
            Assert.Equal(version, read.Version);
        }
    }

    [Fact]
    public async Task The_ring_keeps_the_newest_configuration_reported_and_refuses_malformed_ones()
    {
        await using var test = await TestCluster.StartAsync(silos: 3, shards: 2);
        // Reports come from leaders, on silos: clients may not make them.
        var ring = test.Cluster.Silos[0].ServiceProvider.GetRequiredService<IGrainFactory>().GetGrain<IRingGrain>(IRingGrain.DefaultKey);
        // Before any report: the founders, as configuration 0.
        var founders = await ring.GetMembers(1);
        Assert.NotNull(founders);
        Assert.Equal(0UL, founders.ConfigIndex);
        Assert.Equal([1UL, 2, 3], founders.Ids);
        Assert.Equal(4UL, founders.NextId);

        var newer = new ShardMembers(40, [1, 2, 4], [11, 12, 14], [true, true, true]);
        await ring.ReportMembers(1, newer);
        // An older report (a deposed leader's, or one delayed in flight) changes nothing.
        await ring.ReportMembers(1, new ShardMembers(30, [1, 2, 3], [11, 12, 13], [true, true, true]));
        var kept = await ring.GetMembers(1);
        Assert.Equal(40UL, kept!.ConfigIndex);
        Assert.Equal([1UL, 2, 4], kept.Ids);
        var other = await ring.GetMembers(0);
        Assert.Equal(0UL, other!.ConfigIndex);
        Assert.Equal([1UL, 2, 3], other.Ids);

        await Assert.ThrowsAsync<ArgumentException>(() => ring.ReportMembers(1, new ShardMembers(50, [1, 2], [11], [true, true])));
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => ring.ReportMembers(2, newer));
        Assert.Equal(40UL, (await ring.GetMembers(1))!.ConfigIndex);

        // All at once, as each silo's routers read them: shard by shard, the same answers.
        var all = await ring.GetAllMembers();
        Assert.NotNull(all);
        Assert.Equal(2, all.Length);
        Assert.Equal([0UL, 40], all.Select(m => m.ConfigIndex));
        Assert.Equal([1UL, 2, 4], all[1].Ids);
    }

    [Fact]
    public async Task Every_silos_routers_know_every_shards_group_before_serving_it()
    {
        // A router that had to ask the ring grain first depended on the ring's silo: with that
        // silo just killed, writes through a gateway that had not served the shard before waited
        // for Orleans to declare the silo dead. Each silo learns every group at start-up instead.
        await using var test = await TestCluster.StartAsync(silos: 3, shards: 8);
        await EventuallyAsync(
            () => Task.FromResult(test.Cluster.Silos.All(silo =>
                Enumerable.Range(0, 8).All(shard => silo.ServiceProvider.GetRequiredService<ActorCluster.Grains.Shards.ShardDirectory>().Of(shard) is { Members.Ids.Length: 3 }))),
            TimeSpan.FromSeconds(30),
            "every silo's routers know every shard's three replicas");
    }
}

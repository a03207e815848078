using Xunit.Abstractions;
using static ActorCluster.Tests.Cluster.ClusterAssertions;

namespace ActorCluster.Tests.Cluster;

/// <summary>Leaders spread over silos: each shard settles on its preferred replica.</summary>
public sealed class LeaderBalanceClusterTests(ITestOutputHelper output)
{
    [Fact]
    public async Task Leaders_settle_evenly_over_the_silos_and_the_balancer_then_moves_nothing()
    {
        const int shards = 6;
        // Election timeouts of 1-2 s: on a loaded machine a 200 ms timeout can expire by itself,
        // and a leader that changes for that reason says nothing about the balancer.
        await using var test = await TestCluster.StartAsync(silos: 3, shards: shards, settings: new Dictionary<string, string?>
        {
            ["ActorCluster:Raft:TickMilliseconds"] = "50",
            ["ActorCluster:Raft:ElectionTicks"] = "20",
        });
        var client = test.Client;
        using var metrics = new MetricRecorder(Grains.Replicas.ReplicaMetrics.MeterName);

        Dictionary<string, int> leadersPerSilo = [];
        var took = await EventuallyAsync(async () =>
        {
            var statuses = await Task.WhenAll(Enumerable.Range(0, shards).Select(s => StatusOf(client, s)));
            if (statuses.Any(s => s.Leader == 0 || s.Replicas.Count != 3 || s.Replicas.Select(r => r.Silo).Distinct().Count() != 3))
            {
                return false;
            }

            leadersPerSilo = statuses
                .Select(s => s.Replicas.Single(r => r.Replica == s.Leader).Silo)
                .GroupBy(silo => silo)
                .ToDictionary(g => g.Key, g => g.Count());
            return leadersPerSilo.Count == 3 && leadersPerSilo.Values.All(c => c == shards / 3);
        }, TimeSpan.FromSeconds(90), "six shards' leaders settle two per silo");
        output.WriteLine($"leaders settled in {took.TotalSeconds:0.0}s: {string.Join(", ", leadersPerSilo.Select(p => $"{p.Key}={p.Value}"))}");

        // Settled means settled: over two full rounds of placement checks (every slot gets a turn
        // every 6 s) the balancer decides no transfer. A preferred replica that was itself
        // misplaced once made it hand leadership back and forth every few seconds. Every shard keeps
        // its leader and term (the transfer counters are process-wide, and other tests' clusters
        // run beside this one, so they cannot tell this cluster's transfers apart).
        async Task<(ulong Leader, ulong Term)[]> LeadersAsync() =>
            [.. (await Task.WhenAll(Enumerable.Range(0, shards).Select(s => StatusOf(client, s))))
                .Select(s => (s.Leader, s.Replicas.SingleOrDefault(r => r.Replica == s.Leader)?.Term ?? 0))];
        // Even counts can come before every shard is on its preferred replica (the balancer then
        // swaps leaders, keeping counts even; quiesced leaders check every 2-4 s): first wait for a
        // quiet spell of 8 s, which a balancer that hands leadership back and forth never has.
        var before = await LeadersAsync();
        var quiet = System.Diagnostics.Stopwatch.StartNew();
        var waited = System.Diagnostics.Stopwatch.StartNew();
        while (quiet.Elapsed < TimeSpan.FromSeconds(8))
        {
            Assert.True(waited.Elapsed < TimeSpan.FromSeconds(60), "leaders did not stay put for 8 s within a minute of settling");
            await Task.Delay(500);
            var now = await LeadersAsync();
            if (!now.SequenceEqual(before))
            {
                output.WriteLine($"after {waited.Elapsed.TotalSeconds:0.0}s leaders moved: {string.Join(" ", before)} -> {string.Join(" ", now)}; balance {metrics["actorcluster.raft.leadership_transfers[reason=balance]"]} placement {metrics["actorcluster.raft.leadership_transfers[reason=placement]"]} changes {metrics["actorcluster.raft.leader_changes"]} suspicions {test.Cluster.Silos.Sum(s => Microsoft.Extensions.DependencyInjection.ServiceProviderServiceExtensions.GetRequiredService<Grains.Replicas.StoreLiveness>(s.ServiceProvider).Suspicions)}");
                before = now;
                quiet.Restart();
            }
        }

        await Task.Delay(TimeSpan.FromSeconds(13));
        Assert.Equal(before, await LeadersAsync());

        for (var shard = 0; shard < shards; shard++)
        {
            var key = KeysOfShard(client, shard, 1)[0];
            await client.PutAsync(key, [(byte)shard]);
            Assert.Equal([(byte)shard], (await client.GetAsync(key))!.Value.Value);
        }
    }
}

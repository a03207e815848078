using Xunit.Abstractions;
using static ActorCluster.Tests.Cluster.ClusterAssertions;

namespace ActorCluster.Tests.Cluster;

/// <summary>Leaders spread over silos: each shard settles on its preferred replica.</summary>
public sealed class LeaderBalanceClusterTests(ITestOutputHelper output)
{
    [Fact]
    public async Task Leaders_settle_evenly_over_the_silos_and_every_shard_still_serves()
    {
        const int shards = 6;
        await using var test = await TestCluster.StartAsync(silos: 3, shards: shards);
        var client = test.Client;

        Dictionary<string, int> leadersPerSilo = [];
        var took = await EventuallyAsync(async () =>
        {
            var statuses = await Task.WhenAll(Enumerable.Range(0, shards).Select(s => StatusOf(client, s)));
            if (statuses.Any(s => s.LeaderSlot == 0))
            {
                return false;
            }

            leadersPerSilo = statuses
                .Select(s => s.Replicas.Single(r => r.Slot == s.LeaderSlot).Silo)
                .GroupBy(silo => silo)
                .ToDictionary(g => g.Key, g => g.Count());
            return leadersPerSilo.Count == 3 && leadersPerSilo.Values.All(c => c == shards / 3);
        }, TimeSpan.FromSeconds(60), "six shards' leaders settle two per silo");
        output.WriteLine($"leaders settled in {took.TotalSeconds:0.0}s: {string.Join(", ", leadersPerSilo.Select(p => $"{p.Key}={p.Value}"))}");

        for (var shard = 0; shard < shards; shard++)
        {
            var key = KeysOfShard(client, shard, 1)[0];
            await client.PutAsync(key, [(byte)shard]);
            Assert.Equal([(byte)shard], (await client.GetAsync(key))!.Value.Value);
        }
    }
}

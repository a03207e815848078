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
        Dictionary<int, (int Slot, ulong Term)> leaders = [];
        var took = await EventuallyAsync(async () =>
        {
            var statuses = await Task.WhenAll(Enumerable.Range(0, shards).Select(s => StatusOf(client, s)));
            if (statuses.Any(s => s.LeaderSlot == 0))
            {
                return false;
            }

            leaders = statuses.ToDictionary(s => s.Shard, s => (s.LeaderSlot, s.Replicas.Single(r => r.Slot == s.LeaderSlot).Term));
            leadersPerSilo = statuses
                .Select(s => s.Replicas.Single(r => r.Slot == s.LeaderSlot).Silo)
                .GroupBy(silo => silo)
                .ToDictionary(g => g.Key, g => g.Count());
            return leadersPerSilo.Count == 3 && leadersPerSilo.Values.All(c => c == shards / 3);
        }, TimeSpan.FromSeconds(60), "six shards' leaders settle two per silo");
        output.WriteLine($"leaders settled in {took.TotalSeconds:0.0}s: {string.Join(", ", leadersPerSilo.Select(p => $"{p.Key}={p.Value}"))}");

        // Settled means settled: no leadership moves over two full rounds of placement checks (a
        // preferred replica that is itself misplaced once made leadership bounce every few seconds).
        await Task.Delay(TimeSpan.FromSeconds(13));
        var later = await Task.WhenAll(Enumerable.Range(0, shards).Select(s => StatusOf(client, s)));
        foreach (var status in later)
        {
            var leader = status.Replicas.SingleOrDefault(r => r.Slot == status.LeaderSlot);
            Assert.True(leader is not null && (status.LeaderSlot, leader.Term) == leaders[status.Shard],
                $"shard {status.Shard}: leader slot {leaders[status.Shard].Slot} in term {leaders[status.Shard].Term} became slot {status.LeaderSlot} in term {leader?.Term}");
        }

        for (var shard = 0; shard < shards; shard++)
        {
            var key = KeysOfShard(client, shard, 1)[0];
            await client.PutAsync(key, [(byte)shard]);
            Assert.Equal([(byte)shard], (await client.GetAsync(key))!.Value.Value);
        }
    }
}

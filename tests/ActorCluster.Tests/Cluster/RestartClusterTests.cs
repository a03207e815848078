using System.Text;
using ActorCluster.Grains.Storage;
using ActorCluster.Tests.Storage;
using static ActorCluster.Tests.Cluster.ClusterAssertions;

namespace ActorCluster.Tests.Cluster;

/// <summary>Whole-cluster restarts: every acknowledged write survives, on SQLite and on PostgreSQL.</summary>
public sealed class RestartClusterTests
{
    public static TheoryData<StorageProvider> Providers => [StorageProvider.Sqlite, StorageProvider.PostgreSql];

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Stopping_every_silo_and_starting_again_loses_nothing_acknowledged(StorageProvider provider)
    {
        var storage = await StorageFixture.FreshAsync(provider);
        var prefix = Guid.NewGuid().ToString("N")[..8];
        var acknowledged = new Dictionary<string, (string Value, ulong Version)>();
        await using (var first = await TestCluster.StartAsync(storage: storage))
        {
            // Enough writes that every shard snapshots and compacts (200 entries per snapshot here).
            await Parallel.ForEachAsync(Enumerable.Range(0, 1200), new ParallelOptions { MaxDegreeOfParallelism = 16 }, async (i, cancellationToken) =>
            {
                var key = $"{prefix}-{i % 300}";
                var value = $"{i}";
                var version = await first.Client.PutAsync(key, Encoding.UTF8.GetBytes(value), cancellationToken);
                lock (acknowledged)
                {
                    if (!acknowledged.TryGetValue(key, out var known) || known.Version < version)
                    {
                        acknowledged[key] = (value, version);
                    }
                }
            });
            await first.Client.DeleteAsync($"{prefix}-0");
            acknowledged.Remove($"{prefix}-0");
        }

        await using var second = await TestCluster.StartAsync(storage: storage);
        foreach (var (key, (value, version)) in acknowledged)
        {
            var entry = await second.Client.GetAsync(key);
            Assert.NotNull(entry);
            Assert.Equal(value, Encoding.UTF8.GetString(entry.Value.Value));
            Assert.Equal(version, entry.Value.Version);
        }

        Assert.Null(await second.Client.GetAsync($"{prefix}-0"));
        for (var shard = 0; shard < 4; shard++)
        {
            // Every replica, not just those that happened to answer, came back with its snapshot.
            Grains.Interfaces.ShardStatus? status = null;
            await EventuallyAsync(async () => (status = await StatusOf(second.Client, shard)).Replicas.Count == 3, TimeSpan.FromSeconds(30), $"all replicas of shard {shard} answer");
            Assert.Equal([1UL, 2UL, 3UL], status!.Replicas.Select(r => r.Replica).Order());
            Assert.All(status.Replicas, r => Assert.True(r.SnapshotIndex > 0, $"replica {r.Shard}/{r.Replica} never snapshotted"));
        }
    }
}

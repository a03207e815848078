using System.Diagnostics;
using ActorCluster.Client;
using ActorCluster.Grains.Interfaces;

namespace ActorCluster.Tests.Cluster;

/// <summary>Helpers for cluster tests: keys of one shard, and polling a condition with a deadline.</summary>
internal static class ClusterAssertions
{
    /// <summary>Keys that all hash to <paramref name="shard"/>.</summary>
    public static List<string> KeysOfShard(ActorClusterClient client, int shard, int count, string prefix = "k") =>
        [.. Enumerable.Range(0, 100_000).Select(i => $"{prefix}-{i}").Where(k => client.ShardOf(k) == shard).Take(count)];

    /// <summary>Polls until <paramref name="condition"/> holds; fails with <paramref name="what"/> at the deadline.</summary>
    public static Task<TimeSpan> EventuallyAsync(Func<Task<bool>> condition, TimeSpan timeout, string what) =>
        EventuallyAsync(condition, timeout, () => what);

    /// <summary>Polls until <paramref name="condition"/> holds; at the deadline fails with what <paramref name="what"/> says then (the last state seen).</summary>
    public static async Task<TimeSpan> EventuallyAsync(Func<Task<bool>> condition, TimeSpan timeout, Func<string> what)
    {
        var watch = Stopwatch.StartNew();
        while (watch.Elapsed < timeout)
        {
            if (await condition())
            {
                return watch.Elapsed;
            }

            await Task.Delay(50);
        }

        Assert.Fail($"Not within {timeout.TotalSeconds:0.#}s: {what()}");
        return watch.Elapsed;
    }

    /// <summary>One line per replica of a shard status: id, store, silo, role, term, indexes and members.</summary>
    public static string Describe(ShardStatus? status) => status is null ? "no status yet" :
        $"leader {status.Leader}; " + string.Join("; ", status.Replicas.Select(r => $"{r.Replica}@{r.Store} on {r.Silo}: {r.Role}{(r.Quiesced ? " (quiesced)" : "")} term {r.Term} commit {r.CommitIndex} [{string.Join(",", r.Members ?? [])}]"));

    /// <summary>Writes <paramref name="count"/> new keys named after <paramref name="prefix"/>; returns each with its acknowledged version.</summary>
    public static async Task<Dictionary<string, ulong>> WriteAsync(ActorClusterClient client, string prefix, int count)
    {
        var acknowledged = new Dictionary<string, ulong>();
        for (var i = 0; i < count; i++)
        {
            var key = $"{prefix}-{Guid.NewGuid():N}";
            acknowledged[key] = await client.PutAsync(key, System.Text.Encoding.UTF8.GetBytes(key));
        }

        return acknowledged;
    }

    public static Task<ShardStatus> StatusOf(ActorClusterClient client, int shard) =>
        client.Cluster.GetGrain<IShardGrain>(shard).GetStatus();

    /// <summary>Waits until the shard has a leader and its replicas sit on distinct silos; returns its status.</summary>
    public static async Task<ShardStatus> SpreadLeaderOf(ActorClusterClient client, int shard, int replicas = 3)
    {
        ShardStatus? status = null;
        await EventuallyAsync(async () =>
        {
            status = await StatusOf(client, shard);
            // Every replica running, not only answering: a silo still creating its founders
            // answers for them as "Missing" while the other two already elect a leader.
            return status.Leader != 0 && status.Replicas.Count == replicas && status.Replicas.Select(r => r.Silo).Distinct().Count() == replicas
                && status.Replicas.All(r => r.Role is "Leader" or "Follower");
        }, TimeSpan.FromSeconds(60), $"shard {shard} has a leader and its {replicas} replicas running on {replicas} silos");
        return status!;
    }

    /// <summary>Waits for the shard to have a leader and returns its status.</summary>
    public static async Task<ShardStatus> LeaderOf(ActorClusterClient client, int shard)
    {
        ShardStatus? status = null;
        await EventuallyAsync(async () =>
        {
            status = await StatusOf(client, shard);
            return status.Leader != 0;
        }, TimeSpan.FromSeconds(30), $"shard {shard} elects a leader");
        return status!;
    }
}

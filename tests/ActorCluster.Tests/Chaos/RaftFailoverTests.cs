using System.Diagnostics;
using ActorCluster.Client;
using ActorCluster.Cli.Chaos;
using ActorCluster.Cli.Load;
using ActorCluster.Grains.Interfaces;
using ActorCluster.Tests.Storage;
using Xunit.Abstractions;

namespace ActorCluster.Tests.Chaos;

/// <summary>
/// Failover with real silo processes and kill -9 is decided by Raft alone: writes resume on every
/// shard while Orleans still counts the killed silo as active.
/// </summary>
public sealed class RaftFailoverTests(ITestOutputHelper output)
{
    [Fact]
    public async Task Every_shard_takes_writes_again_after_a_silo_is_killed_before_Orleans_declares_it_dead()
    {
        // Probes every 10 s: Orleans needs well over ten seconds to declare the killed silo dead, so
        // anything on the write path that waits for that (a directory entry or the ring grain on
        // the dead silo, a gateway that never routed the shard) shows as a write that waits.
        await StorageFixture.EnsurePostgresDatabaseAsync();
        var options = new ChaosOptions
        {
            Shards = 8,
            OutputDirectory = Path.Combine(Path.GetTempPath(), "actorcluster-tests", "failover-" + Guid.NewGuid().ToString("N")[..8]),
            PostgresConnectionString = new Npgsql.NpgsqlConnectionStringBuilder(StorageFixture.PostgresConnectionString) { Database = "actorcluster_failover_test" }.ConnectionString,
            SiloEnvironment = new Dictionary<string, string> { ["Orleans__ClusterMembership__ProbeTimeout"] = "00:00:10" },
        };
        using var log = new StringWriter();
        try
        {
            await using var cluster = await ClusterUnderTest.StartAsync(options, log, CancellationToken.None, fastFailureDetection: false, faultInjection: false);
            var clientOptions = new ActorClusterClientOptions { ClusterId = cluster.ClusterId, TimeoutMilliseconds = 10_000, Retries = 3 };
            foreach (var gateway in cluster.Gateways)
            {
                clientOptions.Gateways.Add(gateway);
            }

            await using var client = await ActorClusterClient.ConnectAsync(clientOptions);
            Assert.True(await ClusterUnderTest.WaitForLeadersAsync(client, TimeSpan.FromSeconds(120), CancellationToken.None), "not every shard elected a leader");

            // A key per shard, written once, so that every shard has a session and a value to lose.
            var keys = Enumerable.Range(0, options.Shards).Select(shard => KeyOfShard(client, shard)).ToArray();
            foreach (var key in keys)
            {
                await client.PutAsync(key, [1]);
            }

            // The victim is the silo that leads the most shards.
            var leaders = new List<string>();
            for (var shard = 0; shard < options.Shards; shard++)
            {
                var status = await client.Cluster.GetGrain<IShardGrain>(shard).GetStatus();
                leaders.Add(status.Replicas.Single(r => r.Replica == status.Leader).Silo);
            }

            var victim = cluster.Silos.OrderByDescending(s => leaders.Count(l => l.Contains($":{s.SiloPort}:", StringComparison.Ordinal))).First();
            var led = leaders.Count(l => l.Contains($":{victim.SiloPort}:", StringComparison.Ordinal));
            Assert.True(led > 0);
            cluster.Kill(victim);
            var watch = Stopwatch.StartNew();

            var took = await Task.WhenAll(keys.Select(key => FailoverProbe.UntilSuccessAsync(
                token => client.PutAsync(key, [2], token), TimeSpan.FromMilliseconds(250), TimeSpan.FromSeconds(30))));
            output.WriteLine($"killed silo {victim.Index} (leader of {led} of {options.Shards} shards); first write per shard after: {string.Join(", ", took.Select(t => $"{t.TotalMilliseconds:0} ms"))}; all after {watch.ElapsedMilliseconds} ms");

            // Orleans's view, from its membership table (clients may not ask the silos' management grain).
            var membership = await cluster.MembershipAsync();
            Assert.NotNull(membership);
            var seen = membership.Where(row => row.Port == victim.SiloPort).Select(row => (SiloStatus)row.Status).ToList();
            output.WriteLine($"Orleans's view of the killed silo once every shard took writes: {string.Join(", ", seen)}");
            Assert.Equal([SiloStatus.Active], seen);

            foreach (var key in keys)
            {
                var entry = await client.GetAsync(key);
                Assert.NotNull(entry);
                Assert.Equal([2], entry.Value.Value);
            }
        }
        finally
        {
            output.WriteLine(log.ToString());
        }
    }

    private static string KeyOfShard(ActorClusterClient client, int shard) =>
        Enumerable.Range(0, 100_000).Select(i => $"failover-{i}").First(key => client.ShardOf(key) == shard);
}

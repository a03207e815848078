using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using ActorCluster.Cli.Chaos;
using ActorCluster.Cli.Load;
using ActorCluster.Grains.Interfaces;

namespace ActorCluster.Cli;

/// <summary>
/// <c>bench idle</c>: what a cluster costs at rest. For each shard count it starts three silo
/// processes (each with a data directory of its own, PostgreSQL for membership and the ring),
/// times start-up until every shard has a leader, lets the cluster settle with no client
/// connected, then reads each silo's CPU time from /proc over a few windows.
/// </summary>
internal static class IdleBench
{
    public static readonly string[] Options = ["--shards", "--settle", "--window", "--windows", "--postgres", "--out", "--json"];

    public static async Task<int> RunAsync(CommandLine line, bool checkOnly)
    {
        var shardCounts = ShardCounts(line.Value("--shards") ?? "8,64,256,1024");
        var settle = line.Duration("--settle", TimeSpan.FromSeconds(10));
        var window = line.Duration("--window", TimeSpan.FromSeconds(20));
        var windows = line.Int("--windows", 3, 1, 100);
        var postgres = line.Value("--postgres") ?? new ChaosOptions().PostgresConnectionString;
        var output = line.Value("--out") ?? Path.Combine(Path.GetTempPath(), "actorcluster-idle");
        if (checkOnly)
        {
            return ExitCodes.Ok;
        }

        var rows = new List<IdleRow>();
        foreach (var shards in shardCounts)
        {
            try
            {
                rows.Add(await MeasureAsync(shards, settle, window, windows, postgres, Path.Combine(output, $"shards-{shards}")));
            }
            catch (Exception e) when (e is InvalidOperationException or TimeoutException or Npgsql.NpgsqlException or ActorClusterException)
            {
                Console.Error.WriteLine($"bench idle: {shards} shards: could not run: {e.Message}");
                return ExitCodes.Unavailable;
            }
        }

        if (line.Has("--json"))
        {
            Console.WriteLine(JsonSerializer.Serialize(rows, Commands.JsonOptions));
        }
        else
        {
            Console.WriteLine("| shards | replicas | start-up to every leader (s) | CPU per silo (% of one core) | all silos (% of one core) |");
            Console.WriteLine("|---:|---:|---:|---|---:|");
            foreach (var row in rows)
            {
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"| {row.Shards:N0} | {row.Replicas:N0} | {row.StartupSeconds:0.0} | {string.Join(" / ", row.SiloPercent.Select(p => p.ToString("0.0", CultureInfo.InvariantCulture)))} | {row.TotalPercent:0.0} |"));
            }
        }

        return ExitCodes.Ok;
    }

    /// <summary>Shard counts from a comma-separated list, each from 1 to 4,096.</summary>
    public static IReadOnlyList<int> ShardCounts(string text)
    {
        var counts = new List<int>();
        foreach (var part in text.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            if (!int.TryParse(part, NumberStyles.None, CultureInfo.InvariantCulture, out var count) || count is < 1 or > 4096)
            {
                throw new UsageException($"--shards takes shard counts from 1 to 4096, comma-separated (was '{text}')");
            }

            counts.Add(count);
        }

        return counts.Count > 0 ? counts : throw new UsageException("--shards needs at least one shard count");
    }

    private static async Task<IdleRow> MeasureAsync(int shards, TimeSpan settle, TimeSpan window, int windows, string postgres, string directory)
    {
        var options = new ChaosOptions { Shards = shards, OutputDirectory = directory, PostgresConnectionString = postgres };
        Console.Error.WriteLine($"bench idle: {shards} shards: starting three silo processes");
        var clock = Stopwatch.StartNew();
        await using var cluster = await ClusterUnderTest.StartAsync(options, Console.Error, CancellationToken.None, fastFailureDetection: false, faultInjection: false);
        var clientOptions = new ActorClusterClientOptions { ClusterId = cluster.ClusterId };
        foreach (var gateway in cluster.Gateways)
        {
            clientOptions.Gateways.Add(gateway);
        }

        TimeSpan startup;
        await using (var client = await ActorClusterClient.ConnectAsync(clientOptions))
        {
            await WaitForEveryLeaderAsync(client, shards, TimeSpan.FromMinutes(5));
            startup = clock.Elapsed;
        }

        // At rest: no client connected.
        Console.Error.WriteLine($"bench idle: {shards} shards: every shard led after {startup.TotalSeconds:0.0}s; settling {settle.TotalSeconds:0}s, then {windows} x {window.TotalSeconds:0}s of CPU readings");
        await Task.Delay(settle);
        var silos = cluster.Silos.Where(s => s.Process is { HasExited: false }).ToList();
        var percent = new double[silos.Count];
        for (var w = 0; w < windows; w++)
        {
            var before = silos.Select(s => ProcessCpu.Ticks(s.Process!.Id)).ToArray();
            var watch = Stopwatch.StartNew();
            await Task.Delay(window);
            var after = silos.Select(s => ProcessCpu.Ticks(s.Process!.Id)).ToArray();
            var elapsed = watch.Elapsed;
            for (var i = 0; i < silos.Count; i++)
            {
                if (before[i] is not { } b || after[i] is not { } a)
                {
                    throw new InvalidOperationException($"silo {silos[i].Index} exited while it was measured; see its log in {directory}");
                }

                percent[i] += ProcessCpu.PercentOfOneCore(a - b, elapsed) / windows;
            }
        }

        Console.Error.WriteLine($"bench idle: {shards} shards: {string.Join(", ", percent.Select((p, i) => $"silo {silos[i].Index} {p:0.0}%"))} of one core");
        return new IdleRow(shards, shards * 3, startup.TotalSeconds, [.. percent.Select(p => Math.Round(p, 2))], Math.Round(percent.Sum(), 2));
    }

    /// <summary>Asks every shard for its status, many at a time, until each has a leader.</summary>
    private static async Task WaitForEveryLeaderAsync(ActorClusterClient client, int shards, TimeSpan limit)
    {
        var waiting = Enumerable.Range(0, shards).ToHashSet();
        var clock = Stopwatch.StartNew();
        using var gate = new SemaphoreSlim(32);
        while (waiting.Count > 0)
        {
            if (clock.Elapsed > limit)
            {
                throw new TimeoutException($"{waiting.Count} of {shards} shards had no leader after {limit.TotalSeconds:0}s");
            }

            var led = await Task.WhenAll(waiting.Select(async shard =>
            {
                await gate.WaitAsync();
                try
                {
                    var status = await client.Cluster.GetGrain<IShardGrain>(shard).GetStatus().WaitAsync(TimeSpan.FromSeconds(5));
                    return status.Leader != 0 ? shard : -1;
                }
                catch (Exception e) when (e is TimeoutException or OrleansException)
                {
                    return -1;
                }
                finally
                {
                    gate.Release();
                }
            }));
            waiting.ExceptWith(led.Where(shard => shard >= 0));
            if (waiting.Count > 0)
            {
                await Task.Delay(200);
            }
        }
    }

    /// <summary>One shard count's figures.</summary>
    public sealed record IdleRow(int Shards, int Replicas, double StartupSeconds, double[] SiloPercent, double TotalPercent);
}

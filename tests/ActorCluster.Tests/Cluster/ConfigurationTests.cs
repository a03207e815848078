using ActorCluster.Client;
using ActorCluster.Grains.Storage;
using ActorCluster.Tests.Processes;
using ActorCluster.Tests.Storage;

namespace ActorCluster.Tests.Cluster;

/// <summary>Configuration errors stop a silo with the setting's name; the ring's shape is durable.</summary>
public sealed class ConfigurationTests
{
    [Theory]
    [InlineData("--shards", "0", "ActorCluster:Ring:Shards")]
    [InlineData("--replication-factor", "9", "ActorCluster:Ring:ReplicationFactor")]
    [InlineData("--silo-port", "70000", "ActorCluster:Silo:SiloPort")]
    [InlineData("--storage", "PostgreSql", "ActorCluster:Storage:ConnectionString")]
    [InlineData("--mode", "Sideways", "ActorCluster:Silo")]
    [InlineData("--address", "not-an-ip", "ActorCluster:Silo:AdvertisedAddress")]
    public async Task An_invalid_setting_stops_the_silo_with_a_message_naming_it(string option, string value, string setting)
    {
        var (exitCode, errors) = await RunSiloAsync(option, value);
        Assert.Equal(2, exitCode);
        Assert.Contains(setting, errors, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_cluster_refuses_to_start_with_another_shard_count_than_it_was_created_with()
    {
        var storage = await StorageFixture.FreshAsync(StorageProvider.Sqlite);
        await using (var first = await TestCluster.StartAsync(storage: storage, shards: 4))
        {
            await first.Client.PutAsync("k", [1]);
        }

        var error = await Assert.ThrowsAnyAsync<Exception>(() => TestCluster.StartAsync(storage: storage, shards: 6));
        Assert.Contains("ActorCluster:Ring", error.ToString(), StringComparison.Ordinal);
        Assert.Contains("created with 4", error.ToString(), StringComparison.Ordinal);

        await using var again = await TestCluster.StartAsync(storage: storage, shards: 4);
        Assert.Equal(4, again.Client.Ring.Shards);
        Assert.Equal([1], (await again.Client.GetAsync("k"))!.Value.Value);
    }

    [Theory]
    [InlineData("silo")]
    [InlineData("client")]
    public async Task Help_prints_the_options_and_exits_0_without_starting_anything(string program)
    {
        var (exitCode, output, _) = await ChildProcess.RunAsync(program == "silo" ? Programs.SiloDll : Programs.CliDll, ["--help"], TimeSpan.FromSeconds(30));
        Assert.Equal(0, exitCode);
        Assert.Contains(program == "silo" ? "--shards" : "put <key> <value>", output, StringComparison.Ordinal);
        Assert.Contains("exit codes", output, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("silo", "--bogus", "1")]
    [InlineData("silo", "--shards", "")]
    [InlineData("client", "put", "k", "v", "--bogus", "1")]
    [InlineData("client", "get", "k", "--delete")]
    [InlineData("client", "put", "k", "v", "extra")]
    public async Task An_unknown_or_incomplete_option_exits_2_naming_it(string program, params string[] arguments)
    {
        var (exitCode, _, errors) = await ChildProcess.RunAsync(program == "silo" ? Programs.SiloDll : Programs.CliDll, arguments.Where(a => a.Length > 0), TimeSpan.FromSeconds(30));
        Assert.Equal(2, exitCode);
        var named = arguments.Where(a => a.Length > 0).Last(a => a.StartsWith("--", StringComparison.Ordinal) || a == "extra");
        Assert.Contains(named, errors, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_client_that_reaches_no_gateway_gets_a_typed_error()
    {
        var options = new ActorClusterClientOptions { TimeoutMilliseconds = 3_000 };
        options.Gateways.Add("127.0.0.1:1");
        await Assert.ThrowsAsync<ClusterUnavailableException>(() => ActorClusterClient.ConnectAsync(options));
    }

    [Theory]
    [InlineData("--timeout", "0s")]
    [InlineData("--gateway", "nohostport")]
    public async Task The_command_line_refuses_bad_options_with_a_usage_error(string option, string value)
    {
        var (exitCode, errors) = await RunAsync(Programs.CliDll, "get", "k", option, value);
        Assert.Equal(2, exitCode);
        Assert.NotEmpty(errors);
    }

    [Fact]
    public async Task The_command_line_reports_an_unreachable_cluster_with_its_exit_code()
    {
        var (exitCode, errors) = await RunAsync(Programs.CliDll, "put", "k", "v", "--gateway", "127.0.0.1:1", "--timeout", "3s");
        Assert.Equal(3, exitCode);
        Assert.StartsWith("cluster unavailable", errors, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_development_cluster_stops_on_SIGTERM_quickly_and_without_logging_failures()
    {
        var dataDirectory = Directory.CreateTempSubdirectory("actorcluster-sigterm-").FullName;
        try
        {
            var siloPorts = Programs.FreePortBlock(3);
            var gatewayPorts = Programs.FreePortBlock(3);
            await using var silo = ChildProcess.Start(Programs.SiloDll, Programs.SiloArguments(dataDirectory, 3, siloPorts, gatewayPorts));
            await silo.WaitForOutputAsync("Press Ctrl+C", TimeSpan.FromSeconds(90));
            // Let every shard elect a leader and the replicas settle on their silos.
            await Task.Delay(TimeSpan.FromSeconds(6));

            // What Kubernetes sends a pod it stops (and `kill` by default).
            var watch = System.Diagnostics.Stopwatch.StartNew();
            await silo.SignalAsync("TERM");
            Assert.Equal(0, await silo.WaitForExitAsync(TimeSpan.FromSeconds(60)));
            Assert.True(watch.Elapsed < TimeSpan.FromSeconds(10), $"stopping took {watch.Elapsed}");
            // Expected shutdown traffic is not a failure: no error or critical line.
            var failures = silo.Output.Split('\n').Where(l => l.Contains(" fail: ", StringComparison.Ordinal) || l.Contains(" crit: ", StringComparison.Ordinal)).ToList();
            Assert.Empty(failures);
        }
        finally
        {
            Directory.Delete(dataDirectory, recursive: true);
        }
    }

    [Theory]
    [InlineData("--shards", "3")]
    [InlineData("--replication-factor", "1")]
    public async Task A_silo_whose_ring_differs_from_the_clusters_refuses_to_start_before_hosting_a_replica(string option, string value)
    {
        var dataDirectory = Directory.CreateTempSubdirectory("actorcluster-ring-").FullName;
        try
        {
            await using (var first = StartSilo(dataDirectory, "--shards", "2", "--replication-factor", "3"))
            {
                await first.WaitForOutputAsync("Press Ctrl+C", TimeSpan.FromSeconds(90));
                await ClusterAssertions.EventuallyAsync(async () => (await ReplicaClaimsAsync(dataDirectory)).Count == 6, TimeSpan.FromSeconds(60), "every replica has started");
                await first.SignalAsync("TERM");
                Assert.Equal(0, await first.WaitForExitAsync(TimeSpan.FromSeconds(60)));
            }

            var claimsBefore = await ReplicaClaimsAsync(dataDirectory);
            Assert.Equal(6, claimsBefore.Count);

            await using var second = StartSilo(dataDirectory, "--shards", "2", "--replication-factor", "3", option, value);
            var exitCode = await second.WaitForExitAsync(TimeSpan.FromSeconds(120));
            Assert.Equal(5, exitCode);
            Assert.Contains("ActorCluster:Ring", second.Errors, StringComparison.Ordinal);
            Assert.Contains("created with 2 x 3", second.Errors, StringComparison.Ordinal);
            // No replica was activated: none was claimed again, none was created.
            Assert.Equal(claimsBefore, await ReplicaClaimsAsync(dataDirectory));
        }
        finally
        {
            Directory.Delete(dataDirectory, recursive: true);
        }
    }

    /// <summary>A three-silo development cluster on free ports, its silos storing under <paramref name="dataDirectory"/>.</summary>
    private static ChildProcess StartSilo(string dataDirectory, params string[] extra) =>
        ChildProcess.Start(Programs.SiloDll, Programs.SiloArguments(dataDirectory, 3, Programs.FreePortBlock(3), Programs.FreePortBlock(3), 0, extra));

    /// <summary>Every replica claim in the silos' stores (<c>silo-N/replicas.db</c>).</summary>
    private static async Task<Dictionary<string, long>> ReplicaClaimsAsync(string dataDirectory)
    {
        var claims = new Dictionary<string, long>();
        foreach (var silo in Directory.GetDirectories(dataDirectory, "silo-*"))
        {
            var path = Path.Combine(silo, "replicas.db");
            if (!File.Exists(path))
            {
                continue;
            }

            await using var connection = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={path};Pooling=False");
            await connection.OpenAsync();
            await using var command = connection.CreateCommand();
            command.CommandText = "SELECT replica_id, epoch FROM ac_replica";
            await using var reader = await command.ExecuteReaderAsync();
            while (await reader.ReadAsync())
            {
                claims[reader.GetString(0)] = reader.GetInt64(1);
            }
        }

        return claims;
    }

    private static Task<(int ExitCode, string Errors)> RunSiloAsync(params string[] arguments) =>
        RunAsync(Programs.SiloDll, arguments);

    private static async Task<(int ExitCode, string Errors)> RunAsync(string dll, params string[] arguments)
    {
        var (exitCode, _, errors) = await ChildProcess.RunAsync(dll, arguments, TimeSpan.FromSeconds(60));
        return (exitCode, errors);
    }
}

using System.Diagnostics;
using ActorCluster.Client;
using ActorCluster.Grains.Storage;
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
        var (exitCode, errors) = await RunAsync(ClientDll(), "get", "k", option, value);
        Assert.Equal(2, exitCode);
        Assert.NotEmpty(errors);
    }

    [Fact]
    public async Task The_command_line_reports_an_unreachable_cluster_with_its_exit_code()
    {
        var (exitCode, errors) = await RunAsync(ClientDll(), "put", "k", "v", "--gateway", "127.0.0.1:1", "--timeout", "3s");
        Assert.Equal(3, exitCode);
        Assert.StartsWith("cluster unavailable", errors, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_silo_process_stops_gracefully_on_SIGTERM()
    {
        var dataDirectory = Directory.CreateTempSubdirectory("actorcluster-sigterm-").FullName;
        var info = new ProcessStartInfo("dotnet") { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
        foreach (var argument in new[]
        {
            SiloDll(), "--data-dir", dataDirectory, "--silo-port", "31100", "--gateway-port", "31200", "--http-port", "0",
            "--dashboard", "false", "--shards", "2",
        })
        {
            info.ArgumentList.Add(argument);
        }

        using var process = Process.Start(info)!;
        var errors = process.StandardError.ReadToEndAsync();
        var up = new TaskCompletionSource();
        process.OutputDataReceived += (_, e) =>
        {
            if (e.Data?.Contains("Press Ctrl+C", StringComparison.Ordinal) == true)
            {
                up.TrySetResult();
            }
        };
        process.BeginOutputReadLine();
        try
        {
            await up.Task.WaitAsync(TimeSpan.FromSeconds(90));

            // What Kubernetes sends a pod it stops (and `kill` by default).
            using (var kill = Process.Start("kill", ["-TERM", process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]))
            {
                await kill.WaitForExitAsync();
            }

            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
            await process.WaitForExitAsync(timeout.Token);
            Assert.Equal(0, process.ExitCode);
        }
        finally
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
            }

            await process.WaitForExitAsync();
            Directory.Delete(dataDirectory, recursive: true);
            _ = await errors;
        }
    }

    private static string SiloDll() => Path.Combine(PurityTests.RepositoryRoot(), "Silo", "bin", Configuration, "net10.0", "ActorCluster.Silo.dll");

    private static Task<(int ExitCode, string Errors)> RunSiloAsync(params string[] arguments) =>
        RunAsync(SiloDll(), arguments);

    private static string ClientDll() => Path.Combine(AppContext.BaseDirectory, "ActorCluster.Client.dll");

    private static string Configuration => AppContext.BaseDirectory.Contains($"{Path.DirectorySeparatorChar}Release{Path.DirectorySeparatorChar}", StringComparison.Ordinal) ? "Release" : "Debug";

    private static async Task<(int ExitCode, string Errors)> RunAsync(string dll, params string[] arguments)
    {
        var info = new ProcessStartInfo("dotnet") { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
        info.ArgumentList.Add(dll);
        foreach (var argument in arguments)
        {
            info.ArgumentList.Add(argument);
        }

        using var process = Process.Start(info)!;
        var errors = process.StandardError.ReadToEndAsync();
        _ = process.StandardOutput.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await process.WaitForExitAsync(timeout.Token);
        return (process.ExitCode, (await errors).Trim());
    }
}

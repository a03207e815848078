using System.Net;
using System.Net.Sockets;
using System.Text;
using ActorCluster.Client;
using Xunit.Abstractions;

namespace ActorCluster.Tests.Processes;

/// <summary>The real silo host as a user runs it: crash recovery, exit codes, the fault-injection switch.</summary>
public sealed class SiloProcessTests(ITestOutputHelper output)
{
    [Fact]
    public async Task Killing_the_development_cluster_with_SIGKILL_and_starting_it_again_loses_no_acknowledged_write()
    {
        var dataDirectory = Directory.CreateTempSubdirectory("actorcluster-kill9-").FullName;
        try
        {
            var siloPort = Programs.FreePortBlock(3);
            var gatewayPort = Programs.FreePortBlock(3);
            var arguments = Programs.SiloArguments(dataDirectory, 3, siloPort, gatewayPort);
            var acknowledged = new Dictionary<string, (byte[] Value, ulong Version)>();
            await using (var cluster = ChildProcess.Start(Programs.SiloDll, arguments))
            {
                await cluster.WaitForOutputAsync("Press Ctrl+C", TimeSpan.FromSeconds(90));
                await using var client = await ConnectAsync(gatewayPort);
                for (var i = 0; i < 60; i++)
                {
                    var value = Encoding.UTF8.GetBytes($"value-{i}");
                    acknowledged[$"key-{i}"] = (value, await client.PutAsync($"key-{i}", value));
                }

                // Every silo of the process dies at once, mid-flight: no shutdown, no hand-over.
                await cluster.SignalAsync("KILL");
                await cluster.WaitForExitAsync(TimeSpan.FromSeconds(30));
            }

            await using (var restarted = ChildProcess.Start(Programs.SiloDll, arguments))
            {
                await restarted.WaitForOutputAsync("Press Ctrl+C", TimeSpan.FromSeconds(90));
                await using var client = await ConnectAsync(gatewayPort);
                foreach (var (key, (value, version)) in acknowledged)
                {
                    var entry = await client.GetAsync(key);
                    Assert.NotNull(entry);
                    Assert.Equal(value, entry.Value.Value);
                    Assert.Equal(version, entry.Value.Version);
                }

                output.WriteLine($"{acknowledged.Count} acknowledged writes read back after kill -9 and restart");
                await restarted.SignalAsync("TERM");
                Assert.Equal(0, await restarted.WaitForExitAsync(TimeSpan.FromSeconds(60)));
            }
        }
        finally
        {
            Directory.Delete(dataDirectory, recursive: true);
        }
    }

    [Fact]
    public async Task The_fault_injection_endpoint_exists_only_when_enabled_and_says_so_loudly()
    {
        foreach (var enabled in new[] { false, true })
        {
            var dataDirectory = Directory.CreateTempSubdirectory("actorcluster-faults-").FullName;
            try
            {
                var ports = Programs.FreePorts(3);
                await using var silo = ChildProcess.Start(Programs.SiloDll, Programs.SiloArguments(dataDirectory, 1, ports[0], ports[1], ports[2], "--fault-injection", enabled ? "true" : "false"));
                await silo.WaitForOutputAsync("Press Ctrl+C", TimeSpan.FromSeconds(90));
                using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{ports[2]}") };
                using var partition = await http.PutAsync(new Uri("/faults/partition?block=127.0.0.1:1", UriKind.Relative), null);
                Assert.Equal(enabled ? HttpStatusCode.OK : HttpStatusCode.NotFound, partition.StatusCode);
                using var heal = await http.DeleteAsync(new Uri("/faults/partition", UriKind.Relative));
                Assert.Equal(enabled ? HttpStatusCode.OK : HttpStatusCode.NotFound, heal.StatusCode);
                Assert.Equal(enabled, silo.Output.Contains("FAULT INJECTION IS ON", StringComparison.Ordinal));
                Assert.Equal(HttpStatusCode.OK, (await http.GetAsync(new Uri("/healthz", UriKind.Relative))).StatusCode);
            }
            finally
            {
                Directory.Delete(dataDirectory, recursive: true);
            }
        }
    }

    [Fact]
    public async Task The_raft_view_names_every_silo_shows_every_leader_and_the_dashboard_links_to_it()
    {
        var dataDirectory = Directory.CreateTempSubdirectory("actorcluster-view-").FullName;
        try
        {
            var siloPort = Programs.FreePortBlock(3);
            var gatewayPort = Programs.FreePortBlock(3);
            var httpPort = Programs.FreePortBlock(3);
            // Traces on, to a collector that is not there: the silo must run as well (nothing is recorded for Raft's own traffic).
            var tracing = new Dictionary<string, string> { ["OTEL_EXPORTER_OTLP_ENDPOINT"] = $"http://127.0.0.1:{Programs.FreePorts(1)[0]}" };
            await using var cluster = ChildProcess.Start(Programs.SiloDll, Programs.SiloArguments(dataDirectory, 3, siloPort, gatewayPort, httpPort, "--name", "east", "--dashboard", "true"), tracing);
            await cluster.WaitForOutputAsync("Press Ctrl+C", TimeSpan.FromSeconds(90));
            // Every silo serves the view of the whole cluster.
            using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{httpPort + 2}") };
            System.Text.Json.JsonElement view = default;
            var deadline = DateTime.UtcNow.AddSeconds(60);
            while (true)
            {
                using var response = await http.GetAsync(new Uri("/raft/status.json", UriKind.Relative));
                if (response.IsSuccessStatusCode)
                {
                    view = System.Text.Json.JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;
                    if (view.GetProperty("leaderless").GetInt32() == 0)
                    {
                        break;
                    }
                }

                Assert.True(DateTime.UtcNow < deadline, "the view did not show a leader for every shard within 60 s");
                await Task.Delay(500);
            }

            var silos = view.GetProperty("silos").EnumerateArray().ToList();
            Assert.Equal(["east-0", "east-1", "east-2"], silos.Select(s => s.GetProperty("name").GetString()));
            var shards = view.GetProperty("shards").EnumerateArray().ToList();
            Assert.Equal(view.GetProperty("ring").GetProperty("shards").GetInt32(), shards.Count);
            Assert.Equal(shards.Count, silos.Sum(s => s.GetProperty("leaders").GetInt32()));
            Assert.All(shards, shard =>
            {
                Assert.StartsWith("east-", shard.GetProperty("leader_silo").GetString(), StringComparison.Ordinal);
                Assert.All(shard.GetProperty("replicas").EnumerateArray(), r => Assert.StartsWith("east-", r.GetProperty("silo").GetString(), StringComparison.Ordinal));
            });
            Assert.NotEmpty(view.GetProperty("recent_elections").EnumerateArray());
            // Log lines carry the names too.
            Assert.Contains("[east-1]", cluster.Output, StringComparison.Ordinal);

            var page = await http.GetStringAsync(new Uri("/raft", UriKind.Relative));
            Assert.Contains("Raft view", page, StringComparison.Ordinal);
            var dashboard = await http.GetStringAsync(new Uri("/dashboard", UriKind.Relative));
            Assert.Contains("id=\"actorcluster-raft-view\"", dashboard, StringComparison.Ordinal);

            // Prometheus sees the per-shard instruments (a ring of 8 shards is tagged by shard) and the store's sync latency.
            var metrics = await http.GetStringAsync(new Uri("/metrics", UriKind.Relative));
            foreach (var series in new[] { "actorcluster_raft_leader_changes_total{", "shard=\"0\"", "actorcluster_raft_replicas_without_leader", "actorcluster_raft_apply_lag", "actorcluster_store_sync_latency_seconds_bucket{" })
            {
                Assert.Contains(series, metrics, StringComparison.Ordinal);
            }

        }
        finally
        {
            Directory.Delete(dataDirectory, recursive: true);
        }
    }

    [Fact]
    public async Task With_a_token_the_views_ask_for_it_and_the_probes_do_not()
    {
        var dataDirectory = Directory.CreateTempSubdirectory("actorcluster-token-").FullName;
        try
        {
            var ports = Programs.FreePorts(3);
            await using var silo = ChildProcess.Start(Programs.SiloDll, Programs.SiloArguments(dataDirectory, 1, ports[0], ports[1], ports[2], "--replication-factor", "1", "--dashboard", "true", "--http-token", "s3cret"));
            await silo.WaitForOutputAsync("Press Ctrl+C", TimeSpan.FromSeconds(90));
            // Redirects not followed: a client drops the Authorization header when it follows one.
            using var http = new HttpClient(new HttpClientHandler { AllowAutoRedirect = false }) { BaseAddress = new Uri($"http://127.0.0.1:{ports[2]}") };
            foreach (var path in new[] { "/raft", "/raft/status.json", "/dashboard", "/store" })
            {
                using var anonymous = await http.GetAsync(new Uri(path, UriKind.Relative));
                Assert.Equal(HttpStatusCode.Unauthorized, anonymous.StatusCode);
                Assert.Contains("Basic", anonymous.Headers.WwwAuthenticate.ToString(), StringComparison.Ordinal);

                using var wrong = new HttpRequestMessage(HttpMethod.Get, new Uri(path, UriKind.Relative));
                wrong.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", "guess");
                Assert.Equal(HttpStatusCode.Unauthorized, (await http.SendAsync(wrong)).StatusCode);

                using var bearer = new HttpRequestMessage(HttpMethod.Get, new Uri(path, UriKind.Relative));
                bearer.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", "s3cret");
                Assert.NotEqual(HttpStatusCode.Unauthorized, (await http.SendAsync(bearer)).StatusCode);

                using var basic = new HttpRequestMessage(HttpMethod.Get, new Uri(path, UriKind.Relative));
                basic.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes("operator:s3cret")));
                Assert.NotEqual(HttpStatusCode.Unauthorized, (await http.SendAsync(basic)).StatusCode);
            }

            foreach (var path in new[] { "/healthz", "/readyz", "/metrics" })
            {
                Assert.Equal(HttpStatusCode.OK, (await http.GetAsync(new Uri(path, UriKind.Relative))).StatusCode);
            }
        }
        finally
        {
            Directory.Delete(dataDirectory, recursive: true);
        }
    }

    [Fact]
    public async Task A_silo_outside_the_development_cluster_refuses_to_serve_its_views_to_anyone()
    {
        var single = new[] { "--mode", "Single", "--clustering", "PostgreSql", "--storage", "PostgreSql", "--connection-string", "Host=db;Database=x", "--http-port", "8080" };
        var checkOnly = new Dictionary<string, string> { ["ACTORCLUSTER_CHECK_ARGS"] = "1" };
        await using (var open = ChildProcess.Start(Programs.SiloDll, single, checkOnly))
        {
            Assert.Equal(2, await open.WaitForExitAsync(TimeSpan.FromSeconds(60)));
            Assert.Contains("HttpToken", open.Errors, StringComparison.Ordinal);
        }

        foreach (var allowed in new[] { new[] { "--http-token", "s3cret" }, ["--http-port", "0"], ["--ActorCluster:Silo:AllowAnonymousHttp", "true"] })
        {
            await using var silo = ChildProcess.Start(Programs.SiloDll, [.. single, .. allowed], checkOnly);
            Assert.Equal(0, await silo.WaitForExitAsync(TimeSpan.FromSeconds(60)));
        }
    }

    [Fact]
    public async Task A_silo_started_by_a_test_exits_when_that_test_process_dies()
    {
        var dataDirectory = Directory.CreateTempSubdirectory("actorcluster-orphan-").FullName;
        try
        {
            // Stands in for a test host that is killed before it can stop its silos.
            using var parent = System.Diagnostics.Process.Start("sleep", "600");
            var ports = Programs.FreePorts(2);
            await using var silo = ChildProcess.Start(Programs.SiloDll, Programs.SiloArguments(dataDirectory, 1, ports[0], ports[1]),
                new Dictionary<string, string> { ["ACTORCLUSTER_EXIT_WITH_PARENT"] = $"{parent.Id}" });
            await silo.WaitForOutputAsync("Press Ctrl+C", TimeSpan.FromSeconds(90));
            parent.Kill();
            await parent.WaitForExitAsync();
            Assert.Equal(0, await silo.WaitForExitAsync(TimeSpan.FromSeconds(30)));
        }
        finally
        {
            Directory.Delete(dataDirectory, recursive: true);
        }
    }

    [Fact]
    public async Task Storage_that_cannot_be_opened_exits_with_3()
    {
        var notADirectory = Path.GetTempFileName();
        try
        {
            var ports = Programs.FreePorts(2);
            var (exitCode, _, errors) = await ChildProcess.RunAsync(Programs.SiloDll, Programs.SiloArguments(notADirectory, 1, ports[0], ports[1]), TimeSpan.FromSeconds(60));
            Assert.Equal(3, exitCode);
            Assert.StartsWith("Cannot open storage", errors, StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(notADirectory);
        }
    }

    [Fact]
    public async Task A_data_directory_another_process_holds_exits_with_3_naming_the_holder()
    {
        var cluster = await Storage.StorageFixture.FreshAsync(ActorCluster.Grains.Storage.StorageProvider.Sqlite);
        var options = new ActorCluster.Grains.Storage.StorageOptions { DataDirectory = Path.Combine(cluster.DataDirectory, "silo-0") };
        // This test process holds the store the silo would open (as a silo still running would).
        await using (var held = await ActorCluster.Grains.Storage.AdoReplicaStore.OpenAsync(options))
        {
            var ports = Programs.FreePorts(2);
            var (exitCode, _, errors) = await ChildProcess.RunAsync(Programs.SiloDll, Programs.SiloArguments(cluster.DataDirectory, 1, ports[0], ports[1]), TimeSpan.FromSeconds(60));
            Assert.Equal(3, exitCode);
            Assert.Contains($"in use by process {Environment.ProcessId} on {Environment.MachineName}", errors, StringComparison.Ordinal);
        }

        // Released with the store: the silo starts on it.
        var free = Programs.FreePorts(2);
        await using var silo = ChildProcess.Start(Programs.SiloDll, Programs.SiloArguments(cluster.DataDirectory, 1, free[0], free[1]));
        await silo.WaitForOutputAsync("Press Ctrl+C", TimeSpan.FromSeconds(90));
    }

    [Fact]
    public async Task A_data_directory_of_another_cluster_exits_with_3_and_is_left_as_it_was()
    {
        var cluster = await Storage.StorageFixture.FreshAsync(ActorCluster.Grains.Storage.StorageProvider.Sqlite);
        // The one silo of a local cluster keeps its store in silo-0 under the data directory.
        var options = new ActorCluster.Grains.Storage.StorageOptions { DataDirectory = Path.Combine(cluster.DataDirectory, "silo-0") };
        ulong storeId;
        await using (var store = await ActorCluster.Grains.Storage.AdoReplicaStore.OpenAsync(options))
        {
            storeId = (await store.IdentifyAsync("some-other-cluster")).StoreId;
        }

        var ports = Programs.FreePorts(2);
        var (exitCode, _, errors) = await ChildProcess.RunAsync(Programs.SiloDll, Programs.SiloArguments(cluster.DataDirectory, 1, ports[0], ports[1]), TimeSpan.FromSeconds(60));
        Assert.Equal(3, exitCode);
        Assert.Contains("some-other-cluster", errors, StringComparison.Ordinal);
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        await using (var store = await ActorCluster.Grains.Storage.AdoReplicaStore.OpenAsync(options))
        {
            Assert.Equal(storeId, (await store.IdentifyAsync("some-other-cluster")).StoreId);
        }
    }

    [Fact]
    public async Task A_port_in_use_exits_with_4_and_names_the_problem()
    {
        var dataDirectory = Directory.CreateTempSubdirectory("actorcluster-port-").FullName;
        var ports = Programs.FreePorts(2);
        var taken = new TcpListener(IPAddress.Any, ports[0]);
        taken.Start();
        try
        {
            var (exitCode, _, errors) = await ChildProcess.RunAsync(Programs.SiloDll, Programs.SiloArguments(dataDirectory, 1, ports[0], ports[1]), TimeSpan.FromSeconds(90));
            Assert.Equal(4, exitCode);
            Assert.StartsWith("Cannot start", errors, StringComparison.Ordinal);
        }
        finally
        {
            taken.Stop();
            Directory.Delete(dataDirectory, recursive: true);
        }
    }

    private static Task<ActorClusterClient> ConnectAsync(int firstGateway)
    {
        var options = new ActorClusterClientOptions { TimeoutMilliseconds = 30_000, Retries = 10 };
        for (var i = 0; i < 3; i++)
        {
            options.Gateways.Add($"127.0.0.1:{firstGateway + i}");
        }

        return ActorClusterClient.ConnectAsync(options);
    }
}

using ActorCluster.Client;
using ActorCluster.Cli.Chaos;
using ActorCluster.Grains.Interfaces;
using ActorCluster.Tests.Storage;
using Microsoft.Playwright;
using Xunit.Abstractions;
using static Microsoft.Playwright.Assertions;

namespace ActorCluster.Tests.Operate;

/// <summary>
/// The operator's pages in a real browser (Debian's Chromium, driven by Playwright) against real
/// silo processes: the Orleans Dashboard, its link to the Raft view, and the Raft view following a
/// silo that is killed while it leads shards.
/// </summary>
public sealed class BrowserTests(ITestOutputHelper output)
{
    /// <summary>The browser: Debian's chromium (test.sh installs it), or ACTORCLUSTER_CHROMIUM.</summary>
    private static string Chromium =>
        Environment.GetEnvironmentVariable("ACTORCLUSTER_CHROMIUM") is { Length: > 0 } path ? path : "/usr/bin/chromium";

    [Fact]
    public async Task The_dashboard_links_to_the_raft_view_which_shows_silos_shards_and_leaders_and_follows_a_killed_silos_leaders()
    {
        Assert.True(File.Exists(Chromium), $"the browser test needs Chromium at {Chromium}: test.sh installs Debian's chromium package; ACTORCLUSTER_CHROMIUM names another");
        await StorageFixture.EnsurePostgresDatabaseAsync();
        var options = new ChaosOptions
        {
            Shards = 8,
            Dashboard = true,
            OutputDirectory = Path.Combine(Path.GetTempPath(), "actorcluster-tests", "browser-" + Guid.NewGuid().ToString("N")[..8]),
            PostgresConnectionString = new Npgsql.NpgsqlConnectionStringBuilder(StorageFixture.PostgresConnectionString) { Database = "actorcluster_browser_test" }.ConnectionString,
        };
        using var log = new StringWriter();
        try
        {
            await using var cluster = await ClusterUnderTest.StartAsync(options, log, CancellationToken.None, fastFailureDetection: true, faultInjection: false);
            var clientOptions = new ActorClusterClientOptions { ClusterId = cluster.ClusterId, TimeoutMilliseconds = 10_000, Retries = 3 };
            foreach (var gateway in cluster.Gateways)
            {
                clientOptions.Gateways.Add(gateway);
            }

            await using var client = await ActorClusterClient.ConnectAsync(clientOptions);
            Assert.True(await ClusterUnderTest.WaitForLeadersAsync(client, TimeSpan.FromSeconds(120), CancellationToken.None), "not every shard elected a leader");

            // The victim leads the most shards; the pages are read from another silo.
            var leaders = new List<string>();
            for (var shard = 0; shard < options.Shards; shard++)
            {
                var status = await client.Cluster.GetGrain<IShardGrain>(shard).GetStatus();
                leaders.Add(status.Replicas.Single(r => r.Replica == status.Leader).Silo);
            }

            var victim = cluster.Silos.OrderByDescending(s => leaders.Count(l => l.Contains($":{s.SiloPort}:", StringComparison.Ordinal))).First();
            var viewer = cluster.Silos.First(s => s != victim);
            var victimName = $"chaos-{victim.Index}";

            using var playwright = await Playwright.CreateAsync();
            await using var browser = await playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions { ExecutablePath = Chromium, Headless = true });
            // The silos ask for their token: a browser is asked for it as basic authentication's password.
            var page = await browser.NewPageAsync(new BrowserNewPageOptions { HttpCredentials = new HttpCredentials { Username = "operator", Password = cluster.HttpToken } });
            page.SetDefaultTimeout(30_000);
            SetDefaultExpectTimeout(30_000);
            try
            {
                // The Orleans Dashboard comes up and shows the cluster's silos, with a link to the Raft view.
                await page.GotoAsync($"http://127.0.0.1:{viewer.HttpPort}/dashboard");
                await Expect(page.Locator("body")).ToContainTextAsync(new System.Text.RegularExpressions.Regex(@"Active Silos\s*3(?!\d)"));
                var link = page.Locator("#actorcluster-raft-view");
                await Expect(link).ToBeVisibleAsync();
                await link.ClickAsync();
                await page.WaitForURLAsync("**/raft");

                // Every silo by name, every shard with a leader.
                var silos = page.Locator("#silos tbody tr");
                await Expect(silos).ToHaveCountAsync(3);
                foreach (var silo in cluster.Silos)
                {
                    await Expect(page.Locator($"#silos tbody tr[data-silo='chaos-{silo.Index}']")).ToHaveCountAsync(1);
                }

                await Expect(page.Locator("#shards tbody tr")).ToHaveCountAsync(options.Shards);
                await Expect(page.Locator("#leaderless")).ToHaveAttributeAsync("data-count", "0");
                await Expect(page.Locator("#shards tbody tr[data-leader='0']")).ToHaveCountAsync(0);
                var led = await page.Locator($"#shards tbody tr[data-leader-silo='{victimName}']").CountAsync();
                Assert.True(led > 0, $"the view shows no shard led by {victimName}, which leads {leaders.Count(l => l.Contains($":{victim.SiloPort}:", StringComparison.Ordinal))}");
                output.WriteLine($"{victimName} leads {led} of {options.Shards} shards in the view; killing it");

                // Kill it: its leaders move, and the view follows without a reload.
                cluster.Kill(victim);
                await Expect(page.Locator($"#shards tbody tr[data-leader-silo='{victimName}']")).ToHaveCountAsync(0, new() { Timeout = 90_000 });
                await Expect(page.Locator("#leaderless")).ToHaveAttributeAsync("data-count", "0", new() { Timeout = 90_000 });
                await Expect(page.Locator("#changes tbody tr", new() { HasText = "while open" })).Not.ToHaveCountAsync(0);
                await Expect(page.Locator($"#silos tbody tr[data-silo='{victimName}']")).ToHaveCountAsync(0, new() { Timeout = 90_000 });

                // The filter narrows the table to one silo's shards.
                await page.FillAsync("#filter", $"chaos-{viewer.Index}");
                await Expect(page.Locator("#shown")).ToContainTextAsync($"of {options.Shards} shown");
                Assert.True(await page.Locator("#shards tbody tr").CountAsync() <= options.Shards);
            }
            catch
            {
                var screenshot = Path.Combine(options.OutputDirectory, "raft-view.png");
                Directory.CreateDirectory(options.OutputDirectory);
                await page.ScreenshotAsync(new PageScreenshotOptions { Path = screenshot, FullPage = true });
                output.WriteLine($"the page as it was: {screenshot}");
                throw;
            }
        }
        catch
        {
            output.WriteLine(log.ToString());
            throw;
        }

        // Passed: the silos' logs are of no more use (the cluster is gone by now).
        Directory.Delete(options.OutputDirectory, recursive: true);
    }
}

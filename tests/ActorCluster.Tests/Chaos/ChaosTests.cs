using ActorCluster.Client.Chaos;
using ActorCluster.Tests.Storage;
using Xunit.Abstractions;

namespace ActorCluster.Tests.Chaos;

/// <summary>
/// Short fault runs against a real multi-process cluster (silo processes on loopback, PostgreSQL
/// for membership and replica state). Longer runs are documented in docs/benchmarks.md.
/// </summary>
public sealed class ChaosTests(ITestOutputHelper output)
{
    [Fact]
    public async Task A_minute_of_kills_pauses_partitions_and_membership_changes_loses_nothing_and_stays_linearizable()
    {
        var verdict = await RunAsync(new ChaosOptions
        {
            Duration = TimeSpan.FromSeconds(60),
            Nemeses = Nemeses.All,
            Seed = 20261126,
        });
        Assert.True(verdict.Conclusive, string.Join("; ", verdict.Inconclusive));
        Assert.Empty(verdict.NotLinearizable.Select(k => $"{k.Key}: {k.Explanation}"));
        Assert.Empty(verdict.Appends.Lost);
        Assert.Empty(verdict.Appends.Duplicated);
        Assert.Empty(verdict.Appends.Unexpected);
        Assert.True(verdict.Valid);
        // The run did work and did inject faults.
        Assert.True(verdict.Acknowledged > 1_000, $"only {verdict.Acknowledged} operations succeeded");
        Assert.True(verdict.Appends.Acknowledged > 100, $"only {verdict.Appends.Acknowledged} appends succeeded");
        Assert.True(verdict.Faults.Count >= 4, string.Join("; ", verdict.Faults));
    }

    [Fact]
    public async Task The_same_run_with_stale_reads_is_caught_as_not_linearizable()
    {
        // The harness must be able to fail: stale reads from a partitioned replica are not linearizable.
        var verdict = await RunAsync(new ChaosOptions
        {
            Duration = TimeSpan.FromSeconds(40),
            Nemeses = Nemeses.Partition | Nemeses.Pause,
            StaleReads = true,
            Seed = 42,
        });
        Assert.False(verdict.Valid);
        Assert.NotEmpty(verdict.NotLinearizable);
    }

    private async Task<ChaosVerdict> RunAsync(ChaosOptions options)
    {
        await StorageFixture.EnsurePostgresDatabaseAsync();
        var directory = Path.Combine(Path.GetTempPath(), "actorcluster-tests", "chaos-" + Guid.NewGuid().ToString("N")[..8]);
        using var log = new StringWriter();
        var verdict = await ChaosRunner.RunAsync(options with
        {
            OutputDirectory = directory,
            PostgresConnectionString = ChaosConnectionString(),
            CheckerBudgetPerKey = TimeSpan.FromSeconds(30),
        }, log);
        output.WriteLine(log.ToString());
        output.WriteLine($"{verdict.Acknowledged} ok, {verdict.Indeterminate} unknown; appends {verdict.Appends.Acknowledged}; history {verdict.HistoryPath}");
        return verdict;
    }

    private static string ChaosConnectionString() =>
        new Npgsql.NpgsqlConnectionStringBuilder(StorageFixture.PostgresConnectionString) { Database = "actorcluster_chaos_test" }.ConnectionString;
}

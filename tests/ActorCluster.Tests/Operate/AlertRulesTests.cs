using System.Diagnostics.Metrics;
using System.Reflection;
using System.Text.RegularExpressions;
using ActorCluster.Grains.Replicas;
using ActorCluster.Tests.Processes;

namespace ActorCluster.Tests.Operate;

/// <summary>
/// The Prometheus alerting rules in deploy/prometheus: they name only series the silos export,
/// they are valid PromQL, and promtool's rule tests (each alert fires on the series that should
/// raise it and stays quiet on a healthy cluster's) pass.
/// </summary>
public sealed partial class AlertRulesTests
{
    private static readonly string Directory = Path.Combine(PurityTests.RepositoryRoot(), "deploy", "prometheus");

    [Fact]
    public void The_rules_name_only_series_the_silos_export()
    {
        var exported = ExportedSeries();
        var named = SeriesName().Matches(File.ReadAllText(Path.Combine(Directory, "actorcluster-alerts.yaml"))).Select(m => m.Value).Distinct().ToList();
        Assert.NotEmpty(named);
        Assert.All(named, name => Assert.Contains(name, exported));
        // The alerts cover what an operator is paged for.
        foreach (var series in new[] { "actorcluster_raft_replicas_without_leader", "actorcluster_raft_quorum_lost_total", "actorcluster_raft_commit_latency_seconds_bucket", "actorcluster_store_writes_refused_total" })
        {
            Assert.Contains(series, named);
        }
    }

    [Fact]
    public async Task Promtool_finds_the_rules_valid_and_their_tests_pass()
    {
        Assert.True(Commands.OnPath("promtool"), "promtool is missing: ./test.sh installs it (Debian package prometheus)");
        var (check, checkOutput, checkErrors) = await Commands.RunAsync(Directory, "promtool", ["check", "rules", "actorcluster-alerts.yaml"]);
        Assert.True(check == 0, $"{checkOutput}\n{checkErrors}");
        var (test, testOutput, testErrors) = await Commands.RunAsync(Directory, "promtool", ["test", "rules", "actorcluster-alerts.test.yaml"]);
        Assert.True(test == 0, $"{testOutput}\n{testErrors}");
    }

    /// <summary>
    /// The Prometheus names of the ActorCluster.Raft meter's instruments, as OpenTelemetry's
    /// exporter writes them: dots become underscores, a unit of seconds adds <c>_seconds</c>,
    /// counters end in <c>_total</c>, a histogram is a family of <c>_bucket</c>, <c>_sum</c> and <c>_count</c>.
    /// </summary>
    private static HashSet<string> ExportedSeries()
    {
        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (var field in typeof(ReplicaMetrics).GetFields(BindingFlags.Public | BindingFlags.Static))
        {
            if (field.GetValue(null) is not Instrument instrument)
            {
                continue;
            }

            var name = instrument.Name.Replace('.', '_') + (instrument.Unit == "s" ? "_seconds" : string.Empty);
            switch (instrument)
            {
                case Counter<long>:
                    names.Add(name + "_total");
                    break;
                case Histogram<double>:
                    names.UnionWith([name, name + "_bucket", name + "_sum", name + "_count"]);
                    break;
                default:
                    names.Add(name);
                    break;
            }
        }

        return names;
    }

    [GeneratedRegex("actorcluster_[a-z_]+")]
    private static partial Regex SeriesName();
}

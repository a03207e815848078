using ActorCluster.Grains.Replicas;

namespace ActorCluster.Tests.Replicas;

/// <summary>Lease settings: sized from the timing settings, and refused when too long for the drift bound.</summary>
public sealed class ReplicaOptionsTests
{
    [Fact]
    public void The_default_lease_is_five_sixths_of_the_longest_safe_one()
    {
        var options = new ReplicaOptions();
        options.Validate();
        // (10 - 1) ticks x 50 ms / 1.5 = 300 ms at most; 250 ms in use.
        Assert.Equal(300, options.LongestSafeLeaseMilliseconds);
        Assert.Equal(250, options.EffectiveLeaseMilliseconds);
        Assert.Equal(250 * System.Diagnostics.Stopwatch.Frequency / 1000, options.LeaseStopwatchTicks);
    }

    [Fact]
    public void Quiescence_is_on_by_default_and_its_documentation_and_the_readme_say_so()
    {
        Assert.True(new ReplicaOptions().Quiesce);
        var docs = System.Xml.Linq.XDocument.Load(Path.Combine(AppContext.BaseDirectory, "ActorCluster.Grains.xml"));
        var summary = docs.Descendants("member").Single(m => (string?)m.Attribute("name") == "P:ActorCluster.Grains.Replicas.ReplicaOptions.Quiesce").Value;
        Assert.Contains("On by default", summary, StringComparison.Ordinal);
        Assert.DoesNotContain("Off by default", summary, StringComparison.Ordinal);
        var readme = File.ReadAllLines(Path.Combine(PurityTests.RepositoryRoot(), "README.md"));
        Assert.Contains(readme, line => line.StartsWith("| `Raft:Quiesce`", StringComparison.Ordinal) && line.Contains("| true, ", StringComparison.Ordinal));
    }

    [Fact]
    public void The_automatic_lease_follows_faster_ticks_and_leases_off_mean_no_lease()
    {
        var fast = new ReplicaOptions { TickMilliseconds = 20 };
        fast.Validate();
        Assert.Equal(100, fast.EffectiveLeaseMilliseconds);
        Assert.Equal(0, new ReplicaOptions { LeaseReads = false }.LeaseStopwatchTicks);
    }

    [Theory]
    [InlineData(301, 1.5)]
    [InlineData(451, 1.0)]
    [InlineData(226, 2.0)]
    public void A_lease_longer_than_the_stickiness_allows_under_the_drift_bound_is_refused(int lease, double ratio)
    {
        var options = new ReplicaOptions { LeaseMilliseconds = lease, MaxClockRateRatio = ratio };
        var error = Assert.Throws<ArgumentException>(options.Validate);
        Assert.Contains("LeaseMilliseconds", error.Message, StringComparison.Ordinal);
        new ReplicaOptions { LeaseMilliseconds = lease - 1, MaxClockRateRatio = ratio }.Validate();
        // Without leases the same setting is not used, so not refused.
        new ReplicaOptions { LeaseMilliseconds = lease, MaxClockRateRatio = ratio, LeaseReads = false }.Validate();
    }

    [Theory]
    [InlineData(0.9)]
    [InlineData(double.NaN)]
    [InlineData(11.0)]
    public void A_clock_rate_ratio_below_one_or_absurd_is_refused(double ratio) =>
        Assert.Throws<ArgumentException>(new ReplicaOptions { MaxClockRateRatio = ratio }.Validate);

    [Fact]
    public void Store_liveness_must_pulse_at_least_twice_before_it_suspects_and_quiesced_ticks_are_not_faster_than_ticks()
    {
        new ReplicaOptions().Validate();
        Assert.Throws<ArgumentException>(new ReplicaOptions { PulseMilliseconds = 300, SuspectMilliseconds = 500 }.Validate);
        Assert.Throws<ArgumentException>(new ReplicaOptions { QuiescedTickMilliseconds = 10 }.Validate);
        Assert.Throws<ArgumentException>(new ReplicaOptions { PulseMilliseconds = 5 }.Validate);
    }
}

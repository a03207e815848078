using ActorCluster.Cli.Chaos;
using ActorCluster.Tests.Storage;
using Xunit.Abstractions;

namespace ActorCluster.Tests.Chaos;

/// <summary>
/// Short fault runs against a real multi-process cluster (silo processes on loopback, each with a
/// data directory of its own; PostgreSQL for membership and the ring only). Longer runs are
/// documented in docs/benchmarks.md.
/// </summary>
public sealed class ChaosTests(ITestOutputHelper output)
{
    [Fact]
    public async Task Every_kind_of_fault_in_a_short_run_loses_nothing_and_stays_linearizable()
    {
        var verdict = await RunAsync(new ChaosOptions
        {
            // Leave, wipe and replace each wait for the cluster to be whole first and for the lost
            // store's replicas to be replaced after, so the time the first nine steps take varies:
            // the run goes past its duration, if need be, until they are made.
            Duration = TimeSpan.FromSeconds(150),
            MinimumSteps = Nemesis.StepsCoveringEveryKind(Nemeses.All),
            FaultInterval = TimeSpan.FromSeconds(6),
            FaultDuration = TimeSpan.FromSeconds(3),
            Nemeses = Nemeses.All,
            Seed = 20261126,
        });
        // Every fault happened, confirmed as applied and as undone: one that did not fails the run.
        AssertEveryFaultConfirmed(verdict);
        // The plan covers every kind within its first steps (its combinations come later, in
        // longer runs): the run makes at least those.
        Assert.Equal(Enum.GetValues<FaultKind>(), verdict.Faults.Select(f => f.Kind).Distinct().Order());

        AssertNothingLostAndLinearizable(verdict);
        // The run did work.
        Assert.True(verdict.Acknowledged > 1_000, $"only {verdict.Acknowledged} operations succeeded");
        Assert.True(verdict.Appends.Acknowledged > 100, $"only {verdict.Appends.Acknowledged} appends succeeded");
    }

    [Fact]
    public async Task Disks_lost_and_silos_replaced_end_with_every_shard_whole_on_live_silos_and_nothing_lost()
    {
        // CI's short form of `chaos --duration 90s --nemesis wipe,replace,kill`.
        var verdict = await RunAsync(new ChaosOptions
        {
            Duration = TimeSpan.FromSeconds(90),
            FaultInterval = TimeSpan.FromSeconds(6),
            FaultDuration = TimeSpan.FromSeconds(3),
            Nemeses = Nemeses.Wipe | Nemeses.Replace | Nemeses.Kill,
            Seed = 20261130,
        });
        AssertEveryFaultConfirmed(verdict);
        Assert.Equal([FaultKind.Kill, FaultKind.Wipe, FaultKind.Replace], verdict.Faults.Select(f => f.Kind).Distinct().Order());
        AssertNothingLostAndLinearizable(verdict);
        Assert.True(verdict.Appends.Acknowledged > 100, $"only {verdict.Appends.Acknowledged} appends succeeded");
    }

    [Fact]
    public async Task Disks_that_fill_up_fail_or_hang_lose_nothing_and_the_silo_takes_writes_again()
    {
        // CI's short form of `chaos --duration 60s --nemesis disk`: each silo's data directory is a
        // tmpfs of its own; one fills past its store's reserve, one store's writes fail, one's hang.
        var verdict = await RunAsync(new ChaosOptions
        {
            Duration = TimeSpan.FromSeconds(60),
            MinimumSteps = 3,
            FaultInterval = TimeSpan.FromSeconds(8),
            FaultDuration = TimeSpan.FromSeconds(4),
            Nemeses = Nemeses.Disk,
            Seed = 20261201,
        });
        AssertEveryFaultConfirmed(verdict);
        Assert.Equal([FaultKind.DiskFull, FaultKind.DiskFail, FaultKind.DiskStall], verdict.Faults.Select(f => f.Kind).Distinct().Order());
        AssertNothingLostAndLinearizable(verdict);
        Assert.True(verdict.Appends.Acknowledged > 100, $"only {verdict.Appends.Acknowledged} appends succeeded");
    }

    [Fact]
    public async Task Clocks_that_run_fast_or_slow_or_jump_even_while_frozen_lose_nothing_and_leases_stay_safe()
    {
        // CI's short form of `chaos --duration 60s --nemesis clock,pause --steps 4`: one silo's
        // clock runs x1.5, then a silo is frozen, then a clock jumps, then a clock jumps while its
        // silo is frozen. Leader leases are sized for the drift bound the silos are told (2).
        var verdict = await RunAsync(new ChaosOptions
        {
            Duration = TimeSpan.FromSeconds(60),
            MinimumSteps = 4,
            FaultInterval = TimeSpan.FromSeconds(8),
            FaultDuration = TimeSpan.FromSeconds(4),
            Nemeses = Nemeses.Clock | Nemeses.Pause,
            Seed = 20261203,
        });
        AssertEveryFaultConfirmed(verdict);
        Assert.Contains(verdict.Faults, f => f.Kind == FaultKind.ClockRate && f.Description.Contains("x1.5", StringComparison.Ordinal));
        Assert.Contains(verdict.Faults, f => f.Kind == FaultKind.ClockJump && !f.Description.Contains("frozen", StringComparison.Ordinal));
        Assert.Contains(verdict.Faults, f => f.Kind == FaultKind.ClockJump && f.Description.Contains("while frozen", StringComparison.Ordinal));
        AssertNothingLostAndLinearizable(verdict);
        Assert.True(verdict.Appends.Acknowledged > 100, $"only {verdict.Appends.Acknowledged} appends succeeded");
    }

    [Fact]
    public async Task A_store_wiped_during_a_partition_is_replaced_once_the_partition_heals_and_nothing_is_lost()
    {
        // CI's short form of `chaos --nemesis partition,wipe --steps 6`, and its run of every shape
        // of partition (isolate, minority, one-way, bridge; each confirmed by dropped packets, with
        // Orleans' view of it). Its sixth step isolates the silo leading the most shards and wipes
        // another one meanwhile, so that no shard has a quorum until the partition heals; only then
        // can the lost store's replicas be replaced.
        var verdict = await RunAsync(new ChaosOptions
        {
            Duration = TimeSpan.FromSeconds(30),
            MinimumSteps = 6,
            FaultInterval = TimeSpan.FromSeconds(6),
            FaultDuration = TimeSpan.FromSeconds(4),
            Nemeses = Nemeses.Partition | Nemeses.Wipe,
            Seed = 20261202,
        });
        AssertEveryFaultConfirmed(verdict);
        Assert.True(verdict.Faults.Count(f => f.Kind == FaultKind.Wipe) >= 2, "the wipe during the partition did not happen");
        Assert.True(verdict.Faults.Count(f => f.Kind == FaultKind.Isolate) >= 2, "the partition around the second wipe did not happen");
        Assert.Equal([FaultKind.Isolate, FaultKind.Minority, FaultKind.Bridge, FaultKind.OneWay, FaultKind.Wipe], verdict.Faults.Select(f => f.Kind).Distinct().Order());
        // Each partition says what Orleans' membership made of it.
        Assert.All(verdict.Faults.Where(f => f.Kind != FaultKind.Wipe), f => Assert.Contains("Orleans suspected", f.Description, StringComparison.Ordinal));
        AssertNothingLostAndLinearizable(verdict);
    }

    [Fact]
    public void Ports_handed_to_silos_never_repeat_within_a_process()
    {
        // Probed ports are closed again before a silo binds them; the kernel hands a closed port
        // out again soon enough that two silos of a 3-silo run once shared a silo port.
        var ports = Enumerable.Range(0, 300).SelectMany(_ => ClusterUnderTest.FreePorts(3)).ToList();
        Assert.Equal(ports.Count, ports.Distinct().Count());
    }

    [Fact]
    public async Task A_second_run_in_the_same_output_directory_is_refused_before_it_touches_anything()
    {
        // A run that outlived its console once kept restarting its silos on the next run's data
        // directories (same --out): the next run's silos found stores of another cluster.
        var directory = Path.Combine(Path.GetTempPath(), "actorcluster-tests", "chaos-lock-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(directory);
        var data = Directory.CreateDirectory(Path.Combine(directory, "data", "silo-0"));
        await File.WriteAllTextAsync(Path.Combine(data.FullName, "marker"), "the other run's");
        await using (new FileStream(Path.Combine(directory, ".run.lock"), FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None))
        {
            var error = await Assert.ThrowsAsync<InvalidOperationException>(() => ClusterUnderTest.StartAsync(new ChaosOptions { OutputDirectory = directory }, TextWriter.Null, CancellationToken.None));
            Assert.Contains("Another chaos run is using", error.Message, StringComparison.Ordinal);
        }

        Assert.True(File.Exists(Path.Combine(data.FullName, "marker")), "the refused run deleted the other run's data");
    }

    [Fact]
    public void Clients_held_past_the_duration_keep_going_until_released_and_then_stop_at_the_later_time()
    {
        var deadline = new RunDeadline(DateTime.UtcNow.AddSeconds(-1));
        Assert.False(deadline.Running);
        deadline.Hold();
        Assert.True(deadline.Running);
        deadline.Release(DateTime.UtcNow.AddMinutes(1));
        Assert.True(deadline.Running);
        deadline.Release(DateTime.UtcNow.AddSeconds(-1));
        Assert.True(deadline.Running); // a release never brings the end forward

        var early = new RunDeadline(DateTime.UtcNow.AddMinutes(1));
        early.Hold();
        early.Release(DateTime.UtcNow.AddSeconds(-1));
        Assert.True(early.Running); // nor before the run's own duration
    }

    [Fact]
    public void The_fault_plan_covers_every_kind_once_in_its_first_steps_and_then_combines_them()
    {
        var plan = Nemesis.Plan(Nemeses.All);
        var first = Nemesis.StepsCoveringEveryKind(Nemeses.All);
        Assert.Equal(Enum.GetValues<FaultKind>().Length, first);
        Assert.Equal(Enum.GetValues<FaultKind>(), plan.Take(first).SelectMany(step => step).Order());
        Assert.All(plan.Skip(first), step => Assert.Equal(2, step.Length));
        // The clock and pause run reaches a jump while frozen in its fourth step.
        Assert.Equal([[FaultKind.ClockRate], [FaultKind.Pause], [FaultKind.ClockJump], [FaultKind.Pause, FaultKind.ClockJump]], Nemesis.Plan(Nemeses.Clock | Nemeses.Pause).Take(4));
        Assert.Equal(3, Nemesis.StepsCoveringEveryKind(Nemeses.Clock | Nemeses.Pause));
        Assert.Equal([[FaultKind.DiskFull], [FaultKind.DiskFail], [FaultKind.DiskStall]], Nemesis.Plan(Nemeses.Disk).Take(3));
        // The first combination is a wipe during a partition: a short run of the two reaches it.
        Assert.Equal([[FaultKind.Isolate], [FaultKind.Minority], [FaultKind.OneWay], [FaultKind.Bridge], [FaultKind.Wipe], [FaultKind.Isolate, FaultKind.Wipe]], Nemesis.Plan(Nemeses.Partition | Nemeses.Wipe).Take(6));
        // A subset keeps its own kinds, in the same order.
        Assert.Equal([FaultKind.Isolate, FaultKind.Minority, FaultKind.OneWay, FaultKind.Bridge], Nemesis.Plan(Nemeses.Partition).Take(4).SelectMany(s => s));
        Assert.Equal([[FaultKind.Join], [FaultKind.Leave]], Nemesis.Plan(Nemeses.Membership));
        Assert.Equal([[FaultKind.Kill], [FaultKind.Wipe], [FaultKind.Replace]], Nemesis.Plan(Nemeses.Kill | Nemeses.Wipe | Nemeses.Replace).Take(3));
    }

    [Fact]
    public void A_cut_to_a_silo_declared_dead_counts_only_for_the_incarnation_that_runs()
    {
        // The others send a silo Orleans declared dead nothing, so a cut to it drops nothing: it
        // is moot. Only if the dead row is the running incarnation's, not a killed predecessor's
        // on the same port (generations come from skewed clocks: the older may be the larger).
        var silo = new SiloProcess(4, [40799, 40800, 40801]) { Generation = 100 };
        Assert.True(ClusterUnderTest.DeclaredDead(silo, [new MembershipRow(40799, 100, MembershipRow.Dead, "")]));
        Assert.False(ClusterUnderTest.DeclaredDead(silo, [new MembershipRow(40799, 120, MembershipRow.Dead, ""), new MembershipRow(40799, 100, MembershipRow.Active, "")]));
        Assert.False(ClusterUnderTest.DeclaredDead(silo, null));
        Assert.False(ClusterUnderTest.DeclaredDead(new SiloProcess(5, [1, 2, 3]), [new MembershipRow(1, 7, MembershipRow.Dead, "")]));
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

    /// <summary>Every fault happened, confirmed as applied and as undone: one that did not fails the run.</summary>
    private static void AssertEveryFaultConfirmed(ChaosVerdict verdict)
    {
        Assert.Empty(verdict.FaultProblems);
        Assert.All(verdict.Faults, f => Assert.True(f.Applied && f.Undone, $"{f.Description}: applied {f.Applied}, undone {f.Undone}"));
    }

    /// <summary>The checkers decided, and found every register linearizable and every append exactly once.</summary>
    private static void AssertNothingLostAndLinearizable(ChaosVerdict verdict)
    {
        Assert.True(verdict.Conclusive, string.Join("; ", verdict.Inconclusive));
        Assert.Empty(verdict.NotLinearizable.Select(k => $"{k.Key}: {k.Explanation}"));
        Assert.Empty(verdict.Appends.Lost);
        Assert.Empty(verdict.Appends.Duplicated);
        Assert.Empty(verdict.Appends.Unexpected);
        Assert.True(verdict.Valid);
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
        if (verdict.Valid)
        {
            // The history and the silos' stores take hundreds of megabytes: kept only for a run to look into.
            try
            {
                Directory.Delete(directory, recursive: true);
            }
            catch (IOException)
            {
                // A silo's log still open: left for the next clean-up.
            }
        }

        return verdict;
    }

    private static string ChaosConnectionString() =>
        new Npgsql.NpgsqlConnectionStringBuilder(StorageFixture.PostgresConnectionString) { Database = "actorcluster_chaos_test" }.ConnectionString;
}

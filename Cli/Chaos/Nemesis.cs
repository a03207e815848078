using ActorCluster.Grains.Interfaces;

namespace ActorCluster.Cli.Chaos;

/// <summary>One kind of fault, as the nemesis plans it.</summary>
public enum FaultKind
{
    /// <summary>kill -9 a silo, restart it after the fault's duration.</summary>
    Kill,

    /// <summary>SIGSTOP a silo, SIGCONT it after the fault's duration.</summary>
    Pause,

    /// <summary>Cut one silo's Raft traffic from all others.</summary>
    Isolate,

    /// <summary>Cut a minority of silos from the rest.</summary>
    Minority,

    /// <summary>Two sides that reach each other only through one silo in the middle.</summary>
    Bridge,

    /// <summary>One direction only: one silo hears none of the others, or none of them hears it.</summary>
    OneWay,

    /// <summary>A new silo joins.</summary>
    Join,

    /// <summary>The silo that joined leaves gracefully.</summary>
    Leave,

    /// <summary>kill -9 a silo, delete its data directory, restart it: a new store under the old name.</summary>
    Wipe,

    /// <summary>kill -9 a silo for good; a new silo with a new name and an empty data directory takes its place.</summary>
    Replace,

    /// <summary>Fill a silo's disk (a tmpfs) past its store's free-space reserve; free it again after the fault's duration.</summary>
    DiskFull,

    /// <summary>Every write of a silo's store fails (the store's fault hook); it works again after the fault's duration.</summary>
    DiskFail,

    /// <summary>A silo's store's writers hang before their next batch (the store's fault hook); they go on after the fault's duration.</summary>
    DiskStall,

    /// <summary>A silo's clock runs fast (x1.5) or slow (x0.5) for the fault's duration.</summary>
    ClockRate,

    /// <summary>A silo's clock steps forward by seconds (not undone: a stepped clock stays where it went).</summary>
    ClockJump,
}

/// <summary>A fault the nemesis injected, and whether it was confirmed applied and undone.</summary>
public sealed record FaultRecord(FaultKind Kind, string Description, bool Applied, bool Undone);

/// <summary>
/// Injects faults on a fixed rhythm from a plan that covers every kind early (so that a short run
/// sees each at least once) and then combines two at once (a partition while another silo is
/// killed or frozen). Every fault is confirmed as applied and as undone — a partition by each
/// silo's answer, a kill by the process's exit, a pause by the process state, a restart or a join
/// by readiness, a leave by a clean exit, a wipe by the silo answering with a new store id — and
/// one that cannot be is a problem that fails the run. A fault that destroys a store (leave, wipe,
/// replace) is undone only when every shard has R voters again, none on the lost store: the next
/// fault waits for that, as an operator would before taking another disk away.
/// Targets the silo that leads the most shards, when it can find out.
/// </summary>
internal sealed class Nemesis(ChaosOptions options, ClusterUnderTest cluster, Func<IClusterClient?> status, TextWriter log)
{
    private static readonly FaultKind[][] AllPlan =
    [
        [FaultKind.Isolate], [FaultKind.Kill], [FaultKind.Join], [FaultKind.DiskFull], [FaultKind.ClockRate], [FaultKind.Minority], [FaultKind.Pause], [FaultKind.DiskFail],
        [FaultKind.Leave], [FaultKind.OneWay], [FaultKind.ClockJump], [FaultKind.Bridge], [FaultKind.DiskStall], [FaultKind.Wipe], [FaultKind.Replace],
        [FaultKind.Isolate, FaultKind.Wipe], [FaultKind.Pause, FaultKind.ClockJump], [FaultKind.Isolate, FaultKind.Kill], [FaultKind.Minority, FaultKind.Pause],
        [FaultKind.OneWay, FaultKind.Kill], [FaultKind.Bridge, FaultKind.DiskFull], [FaultKind.Isolate, FaultKind.ClockRate], [FaultKind.Bridge, FaultKind.Kill],
        [FaultKind.Minority, FaultKind.Replace], [FaultKind.Isolate, FaultKind.Pause], [FaultKind.Minority, FaultKind.DiskStall], [FaultKind.OneWay, FaultKind.ClockRate],
        [FaultKind.Isolate, FaultKind.DiskFail],
    ];

    /// <summary>Steps of the plan that, run first, give every kind of fault once.</summary>
    public static int StepsCoveringEveryKind(Nemeses enabled)
    {
        var plan = Plan(enabled);
        var kinds = Enum.GetValues<FaultKind>().Where(k => enabled.HasFlag(NemesisOf(k))).ToHashSet();
        var seen = new HashSet<FaultKind>();
        for (var i = 0; i < plan.Count; i++)
        {
            seen.UnionWith(plan[i]);
            if (seen.SetEquals(kinds))
            {
                return i + 1;
            }
        }

        return plan.Count;
    }

    private readonly Random _random = new(options.Seed);
    private readonly List<FaultRecord> _faults = [];
    private readonly List<string> _problems = [];
    private readonly HashSet<SiloProcess> _retired = [];
    private readonly HashSet<string> _goneStores = [];
    private SiloProcess? _joined;

    /// <summary>Faults injected so far.</summary>
    public IReadOnlyList<FaultRecord> Faults
    {
        get
        {
            lock (_faults)
            {
                return [.. _faults];
            }
        }
    }

    /// <summary>Faults that could not be applied or undone as planned: each one fails the run.</summary>
    public IReadOnlyList<string> Problems
    {
        get
        {
            lock (_faults)
            {
                return [.. _problems];
            }
        }
    }

    /// <summary>The steps the nemesis cycles through for <paramref name="enabled"/>: the full plan, keeping the enabled kinds.</summary>
    public static IReadOnlyList<FaultKind[]> Plan(Nemeses enabled) =>
        [.. AllPlan.Select(step => step.Where(kind => enabled.HasFlag(NemesisOf(kind))).ToArray()).Where(step => step.Length > 0)];

    public static Nemeses NemesisOf(FaultKind kind) => kind switch
    {
        FaultKind.Kill => Nemeses.Kill,
        FaultKind.Pause => Nemeses.Pause,
        FaultKind.Isolate or FaultKind.Minority or FaultKind.Bridge or FaultKind.OneWay => Nemeses.Partition,
        FaultKind.Wipe => Nemeses.Wipe,
        FaultKind.Replace => Nemeses.Replace,
        FaultKind.DiskFull or FaultKind.DiskFail or FaultKind.DiskStall => Nemeses.Disk,
        FaultKind.ClockRate or FaultKind.ClockJump => Nemeses.Clock,
        _ => Nemeses.Membership,
    };

    /// <summary>
    /// Makes fault steps until a fault interval before the clients' deadline, or past it (holding
    /// the clients) until <see cref="ChaosOptions.MinimumSteps"/> are made.
    /// </summary>
    public async Task RunAsync(RunDeadline deadline, CancellationToken cancellationToken)
    {
        var until = deadline.At - options.FaultInterval;
        var plan = Plan(options.Nemeses);
        if (plan.Count == 0)
        {
            return;
        }

        for (var next = 0; (next < options.MinimumSteps || DateTime.UtcNow + options.FaultInterval < until) && !cancellationToken.IsCancellationRequested; next++)
        {
            if (next < options.MinimumSteps)
            {
                deadline.Hold();
            }

            var started = DateTime.UtcNow;
            await StepAsync(plan[next % plan.Count], cancellationToken);
            var pause = options.FaultInterval - (DateTime.UtcNow - started);
            if (pause > TimeSpan.Zero)
            {
                await Task.Delay(pause, cancellationToken);
            }
        }
    }

    /// <summary>Undoes everything still in place: thaws, restarts, heals; a silo that left stays gone.</summary>
    public async Task HealAllAsync(CancellationToken cancellationToken)
    {
        foreach (var silo in cluster.Silos.Where(s => s.Paused))
        {
            await ResumeAsync(silo);
        }

        foreach (var silo in cluster.Silos.Where(s => s.Process is { HasExited: true } && !_retired.Contains(s)))
        {
            await RestartAsync(silo, cancellationToken);
        }

        await HealPartitionAsync();
        foreach (var silo in cluster.Silos.Where(s => s.IsRunning))
        {
            cluster.EmptyDisk(silo);
            await cluster.HealDiskAsync(silo);
            if (cluster.Clocks is { } clocks && clocks.RateOf(silo) != 1)
            {
                clocks.SetRate(silo, 1);
            }
        }
    }

    /// <summary>
    /// A step: a partition first (among running silos), then the process faults on another silo
    /// (undone in the order applied: a clock that jumps while its process is frozen is confirmed
    /// once the process runs again); the partition heals last. A fault that takes a store away during a partition (a wipe, say) is
    /// applied to a whole cluster, and its store's replacement is awaited once the partition heals:
    /// while it lasts, the shards may have no quorum to replace anything with.
    /// </summary>
    private async Task StepAsync(FaultKind[] step, CancellationToken cancellationToken)
    {
        await RestartDeclaredDeadAsync(cancellationToken);
        var target = await LeaderHeavySiloAsync();
        var partition = step.FirstOrDefault(IsPartition);
        var processFaults = step.Where(k => !IsPartition(k)).ToList();
        var hasProcessFault = processFaults.Count > 0;
        var duringPartition = hasProcessFault && step.Any(IsPartition) && processFaults.Any(TakesStoreAway);
        if (duringPartition)
        {
            await RequireWholeAsync(processFaults.First(TakesStoreAway), cancellationToken);
        }

        var partitioned = step.Any(IsPartition) && await PartitionAsync(partition, target);
        SiloProcess? victim = null;
        PendingReplacement? pending = null;
        if (hasProcessFault)
        {
            // In a combined step the process fault hits another silo than the partition's target.
            var others = Targets().Where(s => !partitioned || s != target).ToList();
            victim = others.Count == 0 ? target : partitioned ? others[_random.Next(others.Count)] : target;
            foreach (var process in processFaults)
            {
                pending = await ApplyAsync(process, victim, cancellationToken, deferReplacement: duringPartition) ?? pending;
            }
        }

        await Task.Delay(options.FaultDuration, cancellationToken);
        if (victim is not null)
        {
            foreach (var process in processFaults)
            {
                await UndoAsync(process, victim, cancellationToken);
            }
        }

        if (partitioned)
        {
            await HealPartitionAsync();
            await RestartDeclaredDeadAsync(cancellationToken);
        }

        if (pending is { } lost)
        {
            await AwaitReplacementAsync(lost.Kind, lost.Description, lost.Store, cancellationToken);
        }
    }

    /// <summary>
    /// Waits for every shard to have a leader, bringing back meanwhile, as a supervisor would, a
    /// silo that stops because it learned it was declared dead: it may learn that only after the
    /// last partition healed (it asks the membership table every few seconds), and a shard whose
    /// other voters are gone has no leader until it is back.
    /// </summary>
    public async Task<bool> WaitForLeadersAsync(ActorClusterClient client, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (true)
        {
            await RestartDeclaredDeadAsync(cancellationToken);
            var left = timeout - clock.Elapsed;
            if (left <= TimeSpan.Zero)
            {
                return false;
            }

            if (await ClusterUnderTest.WaitForLeadersAsync(client, left < TimeSpan.FromSeconds(5) ? left : TimeSpan.FromSeconds(5), cancellationToken))
            {
                return true;
            }
        }
    }

    /// <summary>
    /// A silo cut off long enough is declared dead by the others (Orleans' membership), and a silo
    /// that learns it was declared dead stops, during the partition or after it heals: such silos
    /// come back as an operator's supervisor (Kubernetes) would bring them back — after each
    /// partition, before each step, and while the nemesis waits for a sound placement (never while
    /// a kill holds its silo down).
    /// </summary>
    private async Task RestartDeclaredDeadAsync(CancellationToken cancellationToken)
    {
        foreach (var silo in cluster.Silos.Where(s => s.Process is { HasExited: true } && !_retired.Contains(s)).ToList())
        {
            Log($"silo {silo.Index} stopped by itself (exit code {silo.Process!.ExitCode}: declared dead by the others during a partition); restarting it");
            cluster.Start(silo);
            if (!await ReadyAsync(silo, cancellationToken))
            {
                Problem($"silo {silo.Index}, stopped during a partition, did not come back");
            }
        }
    }

    private static bool TakesStoreAway(FaultKind kind) => kind is FaultKind.Leave or FaultKind.Wipe or FaultKind.Replace;

    /// <summary>
    /// R replicas survive the loss of one store at a time, not of a second one before the first is
    /// replaced: a store is taken away only from a whole cluster, as an operator would.
    /// </summary>
    private async Task RequireWholeAsync(FaultKind kind, CancellationToken cancellationToken)
    {
        var notWhole = await SoundPlacementAsync(TimeSpan.FromSeconds(90), cancellationToken);
        if (notWhole.Count > 0)
        {
            Problem($"the cluster was not whole within 90s of the last fault, before a {kind}: {string.Join("; ", notWhole.Take(5))}");
        }
    }

    /// <summary>A store taken away whose replacement is still to be awaited.</summary>
    private sealed record PendingReplacement(FaultKind Kind, string Description, string? Store);

    /// <summary>
    /// Applies a process fault. With <paramref name="deferReplacement"/> (during a partition, the
    /// cluster already checked whole) a fault that takes a store away returns it for the caller to
    /// await its replacement later; otherwise that is awaited here and the result is null.
    /// </summary>
    private async Task<PendingReplacement?> ApplyAsync(FaultKind kind, SiloProcess target, CancellationToken cancellationToken, bool deferReplacement = false)
    {
        if (TakesStoreAway(kind) && !deferReplacement)
        {
            await RequireWholeAsync(kind, cancellationToken);
        }

        switch (kind)
        {
            case FaultKind.Kill:
                cluster.Kill(target);
                Record(kind, $"kill -9 silo {target.Index}", target.Process is { HasExited: true });
                break;
            case FaultKind.Pause:
                cluster.Pause(target);
                Record(kind, $"pause silo {target.Index}", await StateAsync(target, stopped: true));
                break;
            case FaultKind.Join:
                if (_joined is not null)
                {
                    // The plan asks for a join while one is still in: make it leave instead.
                    return await ApplyAsync(FaultKind.Leave, target, cancellationToken, deferReplacement);
                }

                var joined = _joined = cluster.AddSilo();
                Record(kind, $"silo {joined.Index} joins", await ReadyAsync(joined, cancellationToken));
                break;
            case FaultKind.Leave:
                if (_joined is not { } leaving)
                {
                    return await ApplyAsync(FaultKind.Join, target, cancellationToken, deferReplacement);
                }

                _retired.Add(leaving);
                _joined = null;
                var leftStore = await cluster.StoreOfAsync(leaving);
                var exitCode = await cluster.StopAsync(leaving);
                var left = $"silo {leaving.Index} leaves";
                Record(kind, left, exitCode == 0, problem: exitCode == 0 ? null : $"silo {leaving.Index} did not leave cleanly (exit code {exitCode})");

                // A silo that leaves takes its store with it: its replicas are replaced on the others
                // (after the grace period) before the next fault, or the run is invalid.
                return await ReplacedAsync(kind, left, leftStore, deferReplacement, cancellationToken);
            case FaultKind.Wipe:
                var wiped = await cluster.StoreOfAsync(target);
                cluster.Kill(target);
                var killed = target.Process is { HasExited: true };
                cluster.WipeDataDirectory(target);

                cluster.Start(target);
                var wipeReady = await ReadyAsync(target, cancellationToken);
                var fresh = wipeReady ? await cluster.StoreOfAsync(target) : null;
                var wipe = $"wipe silo {target.Index}: store {wiped ?? "?"} -> {fresh ?? "?"}";
                Record(kind, wipe, killed && wiped is not null && fresh is not null && fresh != wiped,
                    problem: $"{wipe}: not confirmed (killed {killed}, ready {wipeReady}; a wiped silo must come back as a new store)");
                return await ReplacedAsync(kind, wipe, wiped, deferReplacement, cancellationToken);
            case FaultKind.DiskFull or FaultKind.DiskFail or FaultKind.DiskStall:
                await BreakDiskAsync(kind, target, cancellationToken);
                break;
            case FaultKind.ClockRate:
                await ChangeRateAsync(target, _clockRates++ % 2 == 0 ? ClockFaults.FastRate : ClockFaults.SlowRate, cancellationToken);
                break;
            case FaultKind.ClockJump:
                await JumpAsync(target, cancellationToken);
                break;
            case FaultKind.Replace:
                var replacedStore = await cluster.StoreOfAsync(target);
                _retired.Add(target);
                cluster.Kill(target);
                var gone = target.Process is { HasExited: true };
                var newcomer = cluster.AddSilo();
                var newcomerReady = await ReadyAsync(newcomer, cancellationToken);
                var replace = $"replace silo {target.Index} (store {replacedStore ?? "?"}) by silo {newcomer.Index}";
                Record(kind, replace, gone && replacedStore is not null && newcomerReady,
                    problem: $"{replace}: not confirmed (killed {gone}, new silo ready {newcomerReady})");
                return await ReplacedAsync(kind, replace, replacedStore, deferReplacement, cancellationToken);
        }

        return null;
    }

    /// <summary>Awaits the replacement of a store taken away now, or hands it back to await later.</summary>
    private async Task<PendingReplacement?> ReplacedAsync(FaultKind kind, string description, string? store, bool defer, CancellationToken cancellationToken)
    {
        if (defer)
        {
            return new PendingReplacement(kind, description, store);
        }

        await AwaitReplacementAsync(kind, description, store, cancellationToken);
        return null;
    }

    private async Task UndoAsync(FaultKind kind, SiloProcess target, CancellationToken cancellationToken)
    {
        switch (kind)
        {
            case FaultKind.Kill:
                await RestartAsync(target, cancellationToken);
                break;
            case FaultKind.Pause:
                await ResumeAsync(target);
                break;
            case FaultKind.DiskFull or FaultKind.DiskFail or FaultKind.DiskStall:
                await RepairDiskAsync(kind, target, cancellationToken);
                break;
            case FaultKind.ClockRate:
                await ChangeRateAsync(target, 1, cancellationToken);
                break;
            case FaultKind.ClockJump when _jumpToConfirm is { } jump && jump.Silo == target:
                _jumpToConfirm = null;
                // Frozen, it read no clock: it reads the new one as soon as it runs.
                var confirmed = await ClockAsExpectedAsync(target, TimeSpan.Zero, cancellationToken);
                Record(FaultKind.ClockJump, $"{jump.Description} (while frozen; {confirmed.Measured})", confirmed.Ok,
                    problem: $"{jump.Description}: the silo's clock did not show it after it ran again ({confirmed.Measured})");
                break;
        }
    }

    private int _clockRates;
    private (SiloProcess Silo, string Description)? _jumpToConfirm;

    /// <summary>
    /// Sets a silo's clock rate, confirmed by the silo: its monotonic clock, measured against the
    /// nemesis', runs at the new rate, and its wall clock is where the nemesis put it.
    /// </summary>
    private async Task ChangeRateAsync(SiloProcess target, double rate, CancellationToken cancellationToken)
    {
        var clocks = RequireClocks();
        var confirmed = await ClockAsExpectedAsync(target, clocks.SetRate(target, rate), cancellationToken);
        if (rate == 1)
        {
            MarkUndone(target, FaultKind.ClockRate, confirmed.Ok, $"the clock of silo {target.Index} did not return to rate 1 ({confirmed.Measured})");
            return;
        }

        var description = $"the clock of silo {target.Index} runs x{rate:0.##} ({confirmed.Measured}): silo {target.Index}";
        Record(FaultKind.ClockRate, description, confirmed.Ok, problem: $"{description}: not as set");
    }

    /// <summary>Steps a silo's clock forward by 2 to 8 s; confirmed now, or once it runs again if it is frozen.</summary>
    private async Task JumpAsync(SiloProcess target, CancellationToken cancellationToken)
    {
        var clocks = RequireClocks();
        var jump = TimeSpan.FromSeconds(2 + (_random.NextDouble() * 6));
        var within = clocks.Jump(target, jump);
        var description = $"the clock of silo {target.Index} jumps {jump.TotalSeconds:0.0}s forward";
        if (target.Paused)
        {
            _jumpToConfirm = (target, description);
            Log($"{description} while it is frozen");
            return;
        }

        var confirmed = await ClockAsExpectedAsync(target, within, cancellationToken);
        Record(FaultKind.ClockJump, $"{description} ({confirmed.Measured})", confirmed.Ok, problem: $"{description}: the silo's clock did not show it ({confirmed.Measured})");
    }

    private ClockFaults RequireClocks() =>
        cluster.Clocks ?? throw new InvalidOperationException("The clock nemesis runs the silos on faked clocks, and these silos were started without.");

    /// <summary>
    /// Once the change has taken effect (<paramref name="within"/>: the library reads its file again
    /// within two seconds), the silo's clocks, measured from inside it over two seconds, run at the
    /// rate set (within 10%) and its wall clock is within 0.3 s of where the nemesis put it; a window
    /// the change fell into is measured again, twice at most.
    /// </summary>
    private async Task<(bool Ok, string Measured)> ClockAsExpectedAsync(SiloProcess target, TimeSpan within, CancellationToken cancellationToken)
    {
        var clocks = RequireClocks();
        await Task.Delay(within + TimeSpan.FromSeconds(0.3), cancellationToken);
        var seen = "the silo did not answer for its clock";
        for (var attempt = 0; attempt < 3; attempt++)
        {
            // A window that the change fell into (it came late) shows its step: measure again.
            if (await cluster.MeasureClockAsync(target, TimeSpan.FromSeconds(2), cancellationToken) is not { } measured)
            {
                continue;
            }

            var rate = clocks.RateOf(target);
            var offset = clocks.ExpectedOffset(target);
            seen = $"measured in the silo: rate {measured.Rate:0.000}, {measured.OffsetSeconds:+0.00;-0.00}s off, expected {rate:0.##} and {offset:+0.00;-0.00}s";
            if (Math.Abs(measured.Rate - rate) <= 0.1 * rate && Math.Abs(measured.OffsetSeconds - offset) <= 0.3)
            {
                return (true, seen);
            }
        }

        return (false, seen);
    }

    /// <summary>
    /// Fills, fails or stalls <paramref name="target"/>'s disk, confirmed by the silo itself: its
    /// store reports a write refused for want of space, a write failed, or a writer held.
    /// </summary>
    private async Task BreakDiskAsync(FaultKind kind, SiloProcess target, CancellationToken cancellationToken)
    {
        var before = await cluster.WriteStatusAsync(target);
        var description = kind switch
        {
            FaultKind.DiskFull => $"fill the disk of silo {target.Index}",
            FaultKind.DiskFail => $"fail the disk writes of silo {target.Index}",
            _ => $"stall the disk writes of silo {target.Index}",
        };
        if (before is null)
        {
            Record(kind, description, applied: false, problem: $"{description}: the silo did not report its store's writes");
            return;
        }

        var injected = kind switch
        {
            FaultKind.DiskFull => await cluster.FillDiskAsync(target, before),
            FaultKind.DiskFail => await cluster.DiskFaultAsync(target, "fail"),
            _ => await cluster.DiskFaultAsync(target, "stall"),
        };
        Func<StoreWriteReport, bool> seen = kind switch
        {
            FaultKind.DiskFull => now => now.WritesRefused > before.WritesRefused,
            FaultKind.DiskFail => now => now.WritesFailed > before.WritesFailed,
            _ => now => now.StalledWriters > 0,
        };
        // The clients keep writing, and every silo holds a replica of the shards they write to.
        var confirmed = injected && await UntilAsync(target, seen, TimeSpan.FromSeconds(15), cancellationToken) is not null;
        Record(kind, description, confirmed, problem: $"{description}: {(injected ? "the silo's store did not report it within 15 s" : "could not be injected")}");
    }

    /// <summary>Frees the disk or heals the store's hooks; undone once the store commits again.</summary>
    private async Task RepairDiskAsync(FaultKind kind, SiloProcess target, CancellationToken cancellationToken)
    {
        var repaired = kind == FaultKind.DiskFull ? cluster.EmptyDisk(target) : await cluster.HealDiskAsync(target);
        var at = await cluster.WriteStatusAsync(target);
        var committing = repaired && at is not null && await UntilAsync(
            target,
            now => now.Transactions > at.Transactions && now.StalledWriters == 0 && (now.FreeBytes is null || now.FreeBytes >= now.MinFreeBytes),
            TimeSpan.FromSeconds(30),
            cancellationToken) is not null;
        MarkUndone(target, kind, committing, $"the disk of silo {target.Index} did not take writes again within 30 s of the repair");
    }

    /// <summary>Polls the silo's store report until <paramref name="condition"/> holds; null when it does not in time.</summary>
    private async Task<StoreWriteReport?> UntilAsync(SiloProcess silo, Func<StoreWriteReport, bool> condition, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (clock.Elapsed < timeout && !cancellationToken.IsCancellationRequested)
        {
            if (await cluster.WriteStatusAsync(silo) is { } now && condition(now))
            {
                return now;
            }

            await Task.Delay(100, cancellationToken);
        }

        return null;
    }

    private async Task RestartAsync(SiloProcess silo, CancellationToken cancellationToken)
    {
        if (_retired.Contains(silo))
        {
            return;
        }

        cluster.Start(silo);
        MarkUndone(silo, FaultKind.Kill, await ReadyAsync(silo, cancellationToken), $"silo {silo.Index} did not come back after kill -9");
    }

    private async Task ResumeAsync(SiloProcess silo)
    {
        cluster.Resume(silo);
        MarkUndone(silo, FaultKind.Pause, await StateAsync(silo, stopped: false), $"silo {silo.Index} is still stopped after SIGCONT");
    }

    /// <summary>Waits (briefly) for the kernel to report the process stopped or running: signals are delivered asynchronously.</summary>
    private static async Task<bool> StateAsync(SiloProcess silo, bool stopped)
    {
        for (var i = 0; i < 40; i++)
        {
            if (ClusterUnderTest.IsStopped(silo) == stopped)
            {
                return true;
            }

            await Task.Delay(25);
        }

        return false;
    }

    private async Task<bool> ReadyAsync(SiloProcess silo, CancellationToken cancellationToken)
    {
        try
        {
            await cluster.WaitReadyAsync(silo, TimeSpan.FromSeconds(60), cancellationToken);
            return true;
        }
        catch (Exception e) when (e is TimeoutException or InvalidOperationException)
        {
            Problem($"silo {silo.Index} was not ready: {e.Message}");
            return false;
        }
    }

    private static bool IsPartition(FaultKind kind) => kind is FaultKind.Isolate or FaultKind.Minority or FaultKind.Bridge or FaultKind.OneWay;

    /// <summary>Cuts Raft traffic; true when every silo confirmed its part.</summary>
    private async Task<bool> PartitionAsync(FaultKind kind, SiloProcess target)
    {
        var running = Targets();
        if (running.Count < 3)
        {
            Record(kind, $"{kind} with only {running.Count} silos running", applied: false, problem: $"{kind}: a partition needs three running silos, {running.Count} were");
            return false;
        }

        List<(SiloProcess Silo, List<SiloProcess> Blocked)> cuts;
        string description;
        switch (kind)
        {
            case FaultKind.Isolate:
                var rest = running.Where(s => s != target).ToList();
                cuts = [(target, rest), .. rest.Select(s => (s, new List<SiloProcess> { target }))];
                description = $"isolate silo {target.Index}";
                break;
            case FaultKind.OneWay:
                var others = running.Where(s => s != target).ToList();
                if (_random.Next(2) == 0)
                {
                    cuts = [(target, others)];
                    description = $"one-way: silo {target.Index} hears none of the others; they hear it";
                }
                else
                {
                    cuts = [.. others.Select(s => (s, new List<SiloProcess> { target }))];
                    description = $"one-way: none of the others hears silo {target.Index}; it hears them";
                }

                break;
            case FaultKind.Minority:
                var minority = running.OrderBy(_ => _random.Next()).Take((running.Count - 1) / 2).ToList();
                var majority = running.Except(minority).ToList();
                cuts = [.. minority.Select(s => (s, majority)), .. majority.Select(s => (s, minority))];
                description = $"split minority {{{string.Join(',', minority.Select(s => s.Index))}}} from the rest";
                break;
            default:
                // A bridge: the two ends cannot talk to each other, only through the middle.
                var order = running.OrderBy(_ => _random.Next()).ToList();
                var (left, middle, right) = (order[0], order[1], order.Skip(2).ToList());
                cuts = [(left, right), .. right.Select(s => (s, new List<SiloProcess> { left }))];
                description = $"bridge: silo {left.Index} and silos {{{string.Join(',', right.Select(s => s.Index))}}} reach each other only through silo {middle.Index}";
                break;
        }

        // Each silo's part: what it must not receive from the others, cut as packets they send it.
        var before = await cluster.MembershipAsync();
        var confirmed = await cluster.CutAsync([.. cuts.SelectMany(cut => cut.Blocked.Select(from => (from, cut.Silo)))]);

        Record(kind, description, confirmed, problem: confirmed ? null : $"{description}: not every silo confirmed its part");
        _membershipWatch = WatchMembershipAsync(before, [.. cuts.Select(c => c.Silo).Concat(cuts.SelectMany(c => c.Blocked)).Distinct()]);
        return true;
    }

    private Task<string>? _membershipWatch;
    private volatile bool _partitionHealed;

    /// <summary>
    /// Watches Orleans' membership table while the partition lasts: which of the silos on either
    /// side of a cut the others suspected (a new suspicion recorded against it) or declared dead.
    /// Reported with the partition, as the other side's view of it.
    /// </summary>
    private async Task<string> WatchMembershipAsync(IReadOnlyList<MembershipRow>? before, List<SiloProcess> involved)
    {
        _partitionHealed = false;
        var suspected = new SortedSet<int>();
        var dead = new SortedSet<int>();
        var clock = System.Diagnostics.Stopwatch.StartNew();
        // Until the partition heals; ten minutes at most, should the run end without healing it.
        while (!_partitionHealed && clock.Elapsed < TimeSpan.FromMinutes(10))
        {
            if (await cluster.MembershipAsync() is { } now)
            {
                foreach (var silo in involved.Where(s => s.Generation is not null))
                {
                    if (now.FirstOrDefault(r => r.Port == silo.SiloPort && r.Generation == silo.Generation) is not { } row)
                    {
                        continue;
                    }

                    var was = before?.FirstOrDefault(r => r.Port == row.Port && r.Generation == row.Generation);
                    if (row.Suspicions.Length > 0 && row.Suspicions != was?.Suspicions)
                    {
                        suspected.Add(silo.Index);
                    }

                    if (row.Status == MembershipRow.Dead && was?.Status != MembershipRow.Dead)
                    {
                        dead.Add(silo.Index);
                    }
                }
            }

            await Task.Delay(250);
        }

        return suspected.Count == 0 && dead.Count == 0
            ? $"Orleans suspected none of them in {clock.Elapsed.TotalSeconds:0.0}s"
            : $"Orleans suspected silos {{{string.Join(',', suspected)}}}{(dead.Count > 0 ? $" and declared {{{string.Join(',', dead)}}} dead" : "")}";
    }

    private async Task HealPartitionAsync()
    {
        // Healed first: what Orleans made of the partition never holds it in place.
        _partitionHealed = true;
        var healed = await cluster.HealAsync();
        string? seen = null;
        if (_membershipWatch is { } watch)
        {
            try
            {
                seen = await watch.WaitAsync(TimeSpan.FromSeconds(10));
            }
            catch (Exception e) when (e is TimeoutException or Npgsql.NpgsqlException or InvalidOperationException)
            {
                seen = $"Orleans' view of it unknown: {e.GetType().Name}";
            }
        }

        _membershipWatch = null;
        lock (_faults)
        {
            var open = _faults.FindLastIndex(f => IsPartition(f.Kind) && !f.Undone);
            if (open >= 0)
            {
                _faults[open] = _faults[open] with { Undone = healed, Description = seen is null ? _faults[open].Description : $"{_faults[open].Description} ({seen})" };
                if (seen is not null)
                {
                    Log($"{_faults[open].Description}: healed");
                }
            }
        }

        if (!healed)
        {
            Problem("a partition could not be healed on every running silo");
        }
    }

    private void MarkUndone(SiloProcess silo, FaultKind kind, bool undone, string problem)
    {
        lock (_faults)
        {
            var open = _faults.FindLastIndex(f => f.Kind == kind && !f.Undone && f.Description.EndsWith($"silo {silo.Index}", StringComparison.Ordinal));
            if (open >= 0)
            {
                _faults[open] = _faults[open] with { Undone = undone };
            }
        }

        if (!undone)
        {
            Problem(problem);
        }
    }

    /// <summary>Silos the nemesis may fault: running, and not leaving or gone.</summary>
    private List<SiloProcess> Targets() => [.. cluster.Silos.Where(s => s.IsRunning && !_retired.Contains(s))];

    private async Task<SiloProcess> LeaderHeavySiloAsync()
    {
        var running = Targets();
        try
        {
            if (status() is { } client)
            {
                var state = await client.GetGrain<IRingGrain>(IRingGrain.DefaultKey).GetStatus().WaitAsync(TimeSpan.FromSeconds(2));
                var byLeaders = state.Shards
                    .Select(s => s.Replicas.FirstOrDefault(r => r.Replica == s.Leader)?.Silo)
                    .Where(silo => silo is not null)
                    .GroupBy(silo => silo!)
                    .OrderByDescending(g => g.Count())
                    .Select(g => running.FirstOrDefault(p => g.Key.Contains($":{p.SiloPort}:", StringComparison.Ordinal)))
                    .FirstOrDefault(p => p is not null);
                if (byLeaders is not null)
                {
                    return byLeaders;
                }
            }
        }
        catch (Exception e) when (ClusterUnderTest.Recovering(e))
        {
            // The cluster is busy recovering: any silo will do.
        }

        return running.Count > 0 ? running[_random.Next(running.Count)] : cluster.Silos[0];
    }

    /// <summary>
    /// The fault that took <paramref name="store"/> away is undone once the cluster's placement is
    /// sound again without it (<see cref="PlacementCheck"/>); a problem if not within 90 s.
    /// </summary>
    private async Task AwaitReplacementAsync(FaultKind kind, string description, string? store, CancellationToken cancellationToken)
    {
        if (store is null)
        {
            Problem($"{description}: the silo did not say which store it held, so its replacement cannot be checked");
            return;
        }

        lock (_faults)
        {
            _goneStores.Add(store);
        }

        var timeout = TimeSpan.FromSeconds(90);
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var problems = await SoundPlacementAsync(timeout, cancellationToken);
        lock (_faults)
        {
            var open = _faults.FindLastIndex(f => f.Kind == kind && f.Description == description);
            if (open >= 0)
            {
                _faults[open] = _faults[open] with { Undone = problems.Count == 0 };
            }
        }

        if (problems.Count == 0)
        {
            Log($"store {store} is replaced: every shard has R voters on distinct live silos again ({clock.Elapsed.TotalSeconds:0.0}s)");
        }
        else
        {
            Problem($"store {store} was not replaced within {timeout.TotalSeconds:0}s: {string.Join("; ", problems.Take(5))}");
        }
    }

    /// <summary>
    /// Waits until <see cref="PlacementCheck"/> finds nothing wrong (every shard: a leader, R voters
    /// on distinct running silos and stores, none on a store that is gone); returns what was still
    /// wrong when the time ran out, or nothing.
    /// </summary>
    public async Task<IReadOnlyList<string>> SoundPlacementAsync(TimeSpan timeout, CancellationToken cancellationToken)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var nextReport = TimeSpan.FromSeconds(10);
        IReadOnlyList<string> problems = ["the ring's status could not be read"];
        while (!cancellationToken.IsCancellationRequested)
        {
            // No fault holds a silo down while the nemesis waits for the placement: one that
            // stopped was declared dead by the others, and comes back as a supervisor would bring it.
            await RestartDeclaredDeadAsync(cancellationToken);
            try
            {
                if (status() is { } client)
                {
                    var state = await client.GetGrain<IRingGrain>(IRingGrain.DefaultKey).GetStatus().WaitAsync(TimeSpan.FromSeconds(10), cancellationToken);
                    HashSet<string> gone;
                    lock (_faults)
                    {
                        gone = [.. _goneStores];
                    }

                    problems = PlacementCheck.Problems(state, cluster.Silos.Where(s => s.Process is { HasExited: false }).Select(s => s.SiloPort).ToHashSet(), gone);
                    if (problems.Count == 0)
                    {
                        return problems;
                    }

                    if (clock.Elapsed >= nextReport)
                    {
                        // A slow recovery says what it is still waiting for, so a run that times out can be read.
                        nextReport += TimeSpan.FromSeconds(10);
                        Log($"waiting {clock.Elapsed.TotalSeconds:0}s for a sound placement: {string.Join("; ", problems.Take(5))}");
                    }
                }
            }
            catch (Exception e) when (ClusterUnderTest.Recovering(e))
            {
                // The cluster is busy recovering: ask again.
                problems = [$"the ring's status could not be read: {e.Message}"];
            }

            if (clock.Elapsed >= timeout)
            {
                return problems;
            }

            await Task.Delay(TimeSpan.FromSeconds(1), cancellationToken);
        }

        return problems;
    }

    private void Record(FaultKind kind, string description, bool applied, string? problem = null)
    {
        lock (_faults)
        {
            // Joins are done once applied; faults that destroy a store wait for its replacement, the others for their undo.
            // A clock that jumped stays where it went: done once confirmed.
            _faults.Add(new FaultRecord(kind, description, applied, Undone: kind is FaultKind.Join or FaultKind.ClockJump && applied));
            Log(applied ? description : $"{description} (NOT CONFIRMED)");
        }

        if (!applied)
        {
            Problem(problem ?? $"{description}: not confirmed");
        }
    }

    private void Problem(string what)
    {
        lock (_faults)
        {
            _problems.Add(what);
        }

        Log($"PROBLEM: {what}");
    }

    private void Log(string line)
    {
        lock (log)
        {
            log.WriteLine($"{DateTime.UtcNow:HH:mm:ss.fff} nemesis: {line}");
        }
    }
}

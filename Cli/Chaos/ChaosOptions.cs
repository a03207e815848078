namespace ActorCluster.Cli.Chaos;

/// <summary>The faults a chaos run may inject.</summary>
[Flags]
public enum Nemeses
{
    None = 0,

    /// <summary>kill -9 a silo process (the one leading most shards) and restart it.</summary>
    Kill = 1,

    /// <summary>Freeze a silo with SIGSTOP, thaw it with SIGCONT.</summary>
    Pause = 2,

    /// <summary>Cut Raft traffic: an isolated silo (leaders preferred), a minority, or a bridge.</summary>
    Partition = 4,

    /// <summary>Start an extra silo, later stop it: replicas move in and out.</summary>
    Membership = 8,

    /// <summary>kill -9 a silo, delete its data directory, restart it: a new store under the old name.</summary>
    Wipe = 16,

    /// <summary>kill -9 a silo for good and start a new one, with a new name and an empty data directory.</summary>
    Replace = 32,

    /// <summary>
    /// A silo's disk fills up (its data directory is a size-limited tmpfs, which needs root),
    /// refuses writes, or hangs; then space returns, or the disk works again.
    /// </summary>
    Disk = 64,

    /// <summary>
    /// A silo's clock runs fast or slow (x1.5, x0.5) or steps forward, faked with libfaketime
    /// (<c>apt-get install faketime</c>); the silos' leases assume the drift bound this makes (2).
    /// </summary>
    Clock = 128,

    All = Kill | Pause | Partition | Membership | Wipe | Replace | Disk | Clock,
}

/// <summary>How a chaos run goes.</summary>
public sealed record ChaosOptions
{
    public TimeSpan Duration { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>
    /// Fault steps the run makes at least, however long they take: the clients keep going past
    /// <see cref="Duration"/> until the nemesis has made that many (and one fault interval more).
    /// Faults that take a store away wait for the cluster to be whole first, so how many fit in a
    /// duration depends on how fast it recovers; a run that must reach every kind says so here.
    /// </summary>
    public int MinimumSteps { get; init; }

    public Nemeses Nemeses { get; init; } = Nemeses.Kill | Nemeses.Pause | Nemeses.Partition;

    /// <summary>Time between the starts of two faults.</summary>
    public TimeSpan FaultInterval { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>How long a fault lasts before it is healed.</summary>
    public TimeSpan FaultDuration { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>Size of each silo's tmpfs data directory when the disk nemesis is on (it fills it up).</summary>
    public long DiskBytes { get; init; } = 1L << 30;

    /// <summary>Silo processes at the start.</summary>
    public int Silos { get; init; } = 3;

    public int Shards { get; init; } = 4;

    /// <summary>Concurrent clients of the register workload.</summary>
    public int RegisterClients { get; init; } = 8;

    /// <summary>Keys of the register workload (few, so that clients contend).</summary>
    public int RegisterKeys { get; init; } = 6;

    /// <summary>Concurrent clients of the append workload.</summary>
    public int AppendClients { get; init; } = 4;

    public int AppendKeys { get; init; } = 3;

    /// <summary>How long a client waits for one operation before recording an unknown outcome.</summary>
    public TimeSpan OperationTimeout { get; init; } = TimeSpan.FromSeconds(4);

    /// <summary>PostgreSQL for membership and the ring's configuration (replica state is on each silo's own disk); the run creates its own database there (this name plus a unique suffix) and drops it at the end.</summary>
    public string PostgresConnectionString { get; init; } = "Host=127.0.0.1;Port=5432;Username=postgres;Password=postgres;Database=actorcluster_chaos;Timeout=5";

    /// <summary>Where the history, the verdict and the silo logs go.</summary>
    public string OutputDirectory { get; init; } = Path.Combine(Path.GetTempPath(), "actorcluster-chaos");

    /// <summary>Seed of the nemesis' choices and the workload's keys and operations.</summary>
    public int Seed { get; init; } = Environment.TickCount;

    /// <summary>
    /// Register reads are stale (served by any replica). For checking the checker: stale reads
    /// under partitions are not linearizable, and a run with them should say so.
    /// </summary>
    public bool StaleReads { get; init; }

    /// <summary>
    /// Settings given to every silo process as environment variables (configuration keys with
    /// <c>__</c> for <c>:</c>), applied after the harness's own: for tests that need, say, a
    /// failure detector slower than any recovery they time.
    /// </summary>
    public IReadOnlyDictionary<string, string> SiloEnvironment { get; init; } = new Dictionary<string, string>();

    /// <summary>Serve the Orleans Dashboard on each silo's HTTP port (off by default: it costs CPU the runs do not need).</summary>
    public bool Dashboard { get; init; }

    /// <summary>Time to give each key's linearizability search.</summary>
    public TimeSpan CheckerBudgetPerKey { get; init; } = TimeSpan.FromSeconds(60);

    public static Nemeses ParseNemeses(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var result = Nemeses.None;
        foreach (var name in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            result |= name.ToLowerInvariant() switch
            {
                "kill" => Nemeses.Kill,
                "pause" => Nemeses.Pause,
                "partition" => Nemeses.Partition,
                "membership" or "join" => Nemeses.Membership,
                "wipe" => Nemeses.Wipe,
                "replace" => Nemeses.Replace,
                "disk" => Nemeses.Disk,
                "clock" => Nemeses.Clock,
                "all" => Nemeses.All,
                "none" => Nemeses.None,
                _ => throw new ArgumentException($"unknown nemesis '{name}' (kill, pause, partition, membership, wipe, replace, disk, clock, all, none)"),
            };
        }

        return result;
    }
}

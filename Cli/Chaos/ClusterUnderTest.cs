using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using ActorCluster.Grains.Interfaces;
using Npgsql;

namespace ActorCluster.Cli.Chaos;

/// <summary>
/// A real cluster of silo processes on loopback, each with a data directory of its own, sharing
/// PostgreSQL only for membership and the ring, that a chaos run can kill, freeze, partition,
/// wipe, replace, grow and shrink.
/// </summary>
internal sealed partial class ClusterUnderTest : IAsyncDisposable
{
    private readonly ChaosOptions _options;
    private readonly string _siloDll;
    private readonly List<SiloProcess> _silos = [];
    private readonly HttpClient _http = new() { Timeout = TimeSpan.FromSeconds(2) };

    /// <summary>The token the silos' web endpoints ask for (drawn for the run; the harness sends it).</summary>
    public string HttpToken { get; } = Convert.ToHexString(System.Security.Cryptography.RandomNumberGenerator.GetBytes(16));
    private readonly TextWriter _log;

    private readonly bool _fastFailureDetection;
    private readonly bool _faultInjection;
    private readonly HashSet<string> _mounted = [];
    private FileStream? _runLock;
    private PacketFilter? _packets;

    /// <summary>The silos' faked clocks, when the clock nemesis is on.</summary>
    public ClockFaults? Clocks { get; private set; }

    private ClusterUnderTest(ChaosOptions options, string siloDll, TextWriter log, bool fastFailureDetection, bool faultInjection)
    {
        _options = options;
        _siloDll = siloDll;
        _log = log;
        _fastFailureDetection = fastFailureDetection;
        _faultInjection = faultInjection;
        _http.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", HttpToken);
    }

    public IReadOnlyList<SiloProcess> Silos => _silos;

    public string ClusterId { get; } = $"chaos-{Environment.ProcessId}";

    public IEnumerable<string> Gateways => _silos.Select(s => $"127.0.0.1:{s.GatewayPort}");

    /// <summary>The run's own PostgreSQL database: Orleans membership (clients find gateways there) and the ring.</summary>
    public string MetadataConnectionString => _options.PostgresConnectionString;

    /// <summary>
    /// Creates a database of its own (named after the configured one, with a unique suffix, dropped
    /// again at the end) and starts the initial silos on free ports, waiting until they are ready.
    /// Two runs on one machine never share a database or a port. Fault tests detect dead silos
    /// faster than Orleans' defaults and accept fault-injection commands; benchmarks run the silos
    /// as configured by default.
    /// </summary>
    public static async Task<ClusterUnderTest> StartAsync(ChaosOptions options, TextWriter log, CancellationToken cancellationToken, bool fastFailureDetection = true, bool faultInjection = true)
    {
        var siloDll = FindSilo();
        // One run per output directory: a run that outlived its console (or runs beside this one)
        // would otherwise restart its silos on this run's data directories.
        Directory.CreateDirectory(options.OutputDirectory);
        FileStream runLock;
        try
        {
            runLock = new FileStream(Path.Combine(options.OutputDirectory, ".run.lock"), FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
        }
        catch (IOException)
        {
            throw new InvalidOperationException($"Another chaos run is using {options.OutputDirectory}; give this one another directory (--out) or stop that one.");
        }

        string database;
        try
        {
            database = await CreateDatabaseAsync(options.PostgresConnectionString, cancellationToken);
        }
        catch
        {
            await runLock.DisposeAsync();
            throw;
        }

        var cluster = new ClusterUnderTest(options with { PostgresConnectionString = database }, siloDll, log, fastFailureDetection, faultInjection) { _runLock = runLock };
        // Every run starts from empty silo stores (a store belongs to one cluster for good).
        var data = Path.Combine(options.OutputDirectory, "data");
        if (options.Nemeses.HasFlag(Nemeses.Partition))
        {
            try
            {
                cluster._packets = await PacketFilter.CreateAsync(cluster.Log);
            }
            catch
            {
                await cluster.DisposeAsync();
                throw;
            }
        }

        if (options.Nemeses.HasFlag(Nemeses.Clock))
        {
            try
            {
                cluster.Clocks = ClockFaults.Create(Path.Combine(options.OutputDirectory, "clocks"));
            }
            catch
            {
                await cluster.DisposeAsync();
                throw;
            }
        }

        // A run that died left its tmpfs disks mounted: they go first.
        foreach (var stale in MountsUnder(data))
        {
            await RunAsync("umount", ["-l", stale]);
        }

        if (Directory.Exists(data))
        {
            Directory.Delete(data, recursive: true);
        }

        Directory.CreateDirectory(options.OutputDirectory);
        for (var i = 0; i < options.Silos; i++)
        {
            cluster._silos.Add(new SiloProcess(i, FreePorts(3)));
        }

        // The first silo creates the schema; the others join it.
        cluster.Start(cluster._silos[0]);
        await cluster.WaitReadyAsync(cluster._silos[0], TimeSpan.FromSeconds(90), cancellationToken);
        foreach (var silo in cluster._silos.Skip(1))
        {
            cluster.Start(silo);
        }

        foreach (var silo in cluster._silos.Skip(1))
        {
            await cluster.WaitReadyAsync(silo, TimeSpan.FromSeconds(90), cancellationToken);
        }

        return cluster;
    }

    /// <summary>Adds one more silo (membership changes).</summary>
    public SiloProcess AddSilo()
    {
        var silo = new SiloProcess(_silos.Count, FreePorts(3));
        _silos.Add(silo);
        Start(silo);
        return silo;
    }

    /// <summary>The data directory of <paramref name="silo"/> (its store), under the run's output directory.</summary>
    public string DataDirectoryOf(SiloProcess silo) => Path.Combine(_options.OutputDirectory, "data", $"silo-{silo.Index}");

    /// <summary>Whether the silos' data directories are size-limited tmpfs disks (the disk nemesis fills them).</summary>
    private bool OwnDisks => _options.Nemeses.HasFlag(Nemeses.Disk);

    /// <summary>Deletes what the silo's data directory holds (the directory stays: it may be a mount point).</summary>
    public void WipeDataDirectory(SiloProcess silo)
    {
        var directory = new DirectoryInfo(DataDirectoryOf(silo));
        if (!directory.Exists)
        {
            return;
        }

        foreach (var entry in directory.EnumerateFileSystemInfos())
        {
            if (entry is DirectoryInfo child)
            {
                child.Delete(recursive: true);
            }
            else
            {
                entry.Delete();
            }
        }
    }

    /// <summary>What the silo's store reports about its writes (<c>/store</c>); null when it does not answer.</summary>
    public async Task<StoreWriteReport?> WriteStatusAsync(SiloProcess silo)
    {
        if (await StoreReportAsync(silo) is not { } root)
        {
            return null;
        }

        long Long(string name) => root.TryGetProperty(name, out var value) && value.ValueKind == System.Text.Json.JsonValueKind.Number ? value.GetInt64() : 0;
        long? free = root.TryGetProperty("free_bytes", out var f) && f.ValueKind == System.Text.Json.JsonValueKind.Number ? f.GetInt64() : null;
        return new StoreWriteReport(Long("transactions"), Long("writes_refused"), Long("writes_failed"), free, Long("min_free_bytes"), (int)Long("stalled_writers"));
    }

    /// <summary>The silo's <c>/store</c> answer; null when it does not answer.</summary>
    private async Task<System.Text.Json.JsonElement?> StoreReportAsync(SiloProcess silo)
    {
        try
        {
            using var response = await _http.GetAsync(new Uri($"http://127.0.0.1:{silo.HttpPort}/store"));
            if (!response.IsSuccessStatusCode)
            {
                return null;
            }

            using var json = System.Text.Json.JsonDocument.Parse(await response.Content.ReadAsStringAsync());
            return json.RootElement.Clone();
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException or System.Text.Json.JsonException)
        {
            return null;
        }
    }

    /// <summary>
    /// Fills the silo's tmpfs disk with another file until half its store's reserve is left free;
    /// true when the file was written.
    /// </summary>
    public async Task<bool> FillDiskAsync(SiloProcess silo, StoreWriteReport status)
    {
        var directory = DataDirectoryOf(silo);
        if (!OwnDisks || status.MinFreeBytes <= 0)
        {
            Log($"cannot fill the disk of silo {silo.Index}: {(OwnDisks ? "its store keeps no reserve" : "its data directory is not a disk of its own")}");
            return false;
        }

        var bytes = new DriveInfo(directory).AvailableFreeSpace - (status.MinFreeBytes / 2);
        Log($"filling the disk of silo {silo.Index} with {bytes:N0} bytes");
        try
        {
            // Real data: tmpfs keeps sparse files sparse.
            var chunk = new byte[1 << 20];
            Array.Fill(chunk, (byte)0x5a);
            await using var file = new FileStream(FillerOf(silo), FileMode.Create, FileAccess.Write);
            for (long written = 0; written < bytes; written += chunk.Length)
            {
                await file.WriteAsync(chunk.AsMemory(0, (int)Math.Min(chunk.Length, bytes - written)));
            }

            return true;
        }
        catch (IOException e)
        {
            Log($"could not fill the disk of silo {silo.Index}: {e.Message}");
            return false;
        }
    }

    /// <summary>Deletes the file that fills the silo's disk, if there is one; true unless that failed.</summary>
    public bool EmptyDisk(SiloProcess silo)
    {
        try
        {
            File.Delete(FillerOf(silo));
            return true;
        }
        catch (IOException e)
        {
            Log($"could not empty the disk of silo {silo.Index}: {e.Message}");
            return false;
        }
    }

    /// <summary>Makes the silo's store fail (<c>fail</c>) or hold (<c>stall</c>) its writes; true when the silo confirmed it.</summary>
    public async Task<bool> DiskFaultAsync(SiloProcess silo, string mode) =>
        await SendAsync(HttpMethod.Put, silo, $"/faults/disk?mode={mode}") is { } answer && answer.Contains(mode == "fail" ? "failing" : "stalling", StringComparison.Ordinal);

    /// <summary>
    /// Measures the silo's clocks from inside it: the rate of its monotonic clock against this
    /// process's over <paramref name="over"/>, and how far its wall clock is ahead of this one's
    /// (seconds, at the end). Null when the silo does not answer.
    /// </summary>
    public async Task<(double Rate, double OffsetSeconds)?> MeasureClockAsync(SiloProcess silo, TimeSpan over, CancellationToken cancellationToken)
    {
        if (await ReadClockAsync(silo) is not { } first)
        {
            return null;
        }

        await Task.Delay(over, cancellationToken);
        if (await ReadClockAsync(silo) is not { } second)
        {
            return null;
        }

        return ((second.Monotonic - first.Monotonic) / (second.Here - first.Here), second.Offset);
    }

    private async Task<(double Monotonic, double Here, double Offset)?> ReadClockAsync(SiloProcess silo)
    {
        try
        {
            var before = Stopwatch.GetTimestamp();
            var sent = DateTime.UtcNow;
            using var response = await _http.GetAsync(new Uri($"http://127.0.0.1:{silo.HttpPort}/faults/clock"));
            var round = Stopwatch.GetElapsedTime(before);
            if (!response.IsSuccessStatusCode)
            {
                return null;
            }

            using var json = System.Text.Json.JsonDocument.Parse(await response.Content.ReadAsStringAsync());
            // Read half-way through the round trip, on both sides.
            var here = (before + (round.Ticks / 2.0 * Stopwatch.Frequency / TimeSpan.TicksPerSecond)) / Stopwatch.Frequency;
            var wall = (sent + (round / 2) - DateTime.UnixEpoch).TotalMilliseconds;
            return (json.RootElement.GetProperty("monotonic_ms").GetDouble() / 1000, here, (json.RootElement.GetProperty("unix_ms").GetDouble() - wall) / 1000);
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException or System.Text.Json.JsonException or KeyNotFoundException or InvalidOperationException)
        {
            return null;
        }
    }

    /// <summary>Lifts the silo's store faults; true when the silo confirmed it.</summary>
    public async Task<bool> HealDiskAsync(SiloProcess silo) => await SendAsync(HttpMethod.Delete, silo, "/faults/disk") == "healed";

    private string FillerOf(SiloProcess silo) => Path.Combine(DataDirectoryOf(silo), "disk-full.filler");

    /// <summary>Mounts a tmpfs of <see cref="ChaosOptions.DiskBytes"/> at the silo's data directory, once.</summary>
    private void EnsureDisk(SiloProcess silo)
    {
        var directory = DataDirectoryOf(silo);
        if (!OwnDisks || _mounted.Contains(directory))
        {
            return;
        }

        Directory.CreateDirectory(directory);
        var (code, errors) = RunAsync("mount", ["-t", "tmpfs", "-o", $"size={_options.DiskBytes}", "tmpfs", directory]).GetAwaiter().GetResult();
        if (code != 0)
        {
            throw new InvalidOperationException($"The disk nemesis gives each silo a tmpfs of its own as its data directory, and mounting one failed (it needs root): {errors.Trim()}");
        }

        _mounted.Add(directory);
        Log($"silo {silo.Index} has a {_options.DiskBytes / (1 << 20)} MiB tmpfs disk at {directory}");
    }

    private static List<string> MountsUnder(string directory)
    {
        var prefix = Path.GetFullPath(directory) + Path.DirectorySeparatorChar;
        return File.Exists("/proc/mounts")
            ? [.. File.ReadAllLines("/proc/mounts").Select(line => line.Split(' ')).Where(f => f.Length > 1 && f[1].StartsWith(prefix, StringComparison.Ordinal)).Select(f => f[1])]
            : [];
    }

    private static async Task<(int Code, string Errors)> RunAsync(string program, string[] arguments)
    {
        var info = new ProcessStartInfo(program) { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
        foreach (var argument in arguments)
        {
            info.ArgumentList.Add(argument);
        }

        try
        {
            using var process = Process.Start(info)!;
            var errors = await process.StandardError.ReadToEndAsync();
            await process.WaitForExitAsync();
            return (process.ExitCode, errors);
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            return (-1, e.Message);
        }
    }

    public void Start(SiloProcess silo)
    {
        EnsureDisk(silo);
        var info = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = Path.GetDirectoryName(_siloDll)!,
        };
        info.ArgumentList.Add(_siloDll);
        foreach (var (name, value) in new[]
        {
            ("--mode", "Single"), ("--clustering", "PostgreSql"), ("--storage", "PostgreSql"),
            ("--connection-string", _options.PostgresConnectionString), ("--cluster-id", ClusterId),
            // Each silo keeps its replicas on a disk of its own; PostgreSQL holds only membership and the ring.
            ("--data-dir", DataDirectoryOf(silo)),
            ("--name", $"chaos-{silo.Index}"), ("--address", "127.0.0.1"),
            ("--silo-port", silo.SiloPort.ToString(CultureInfo.InvariantCulture)),
            ("--gateway-port", silo.GatewayPort.ToString(CultureInfo.InvariantCulture)),
            ("--http-port", silo.HttpPort.ToString(CultureInfo.InvariantCulture)),
            ("--shards", _options.Shards.ToString(CultureInfo.InvariantCulture)),
            ("--dashboard", _options.Dashboard ? "true" : "false"), ("--fault-injection", _faultInjection ? "true" : "false"),
        })
        {
            info.ArgumentList.Add(name);
            info.ArgumentList.Add(value);
        }

        // The web endpoints' token, where ps does not show it.
        info.Environment["ACTORCLUSTER_SILO__HTTPTOKEN"] = HttpToken;
        if (_fastFailureDetection)
        {
            // Detect dead silos in a few seconds rather than Orleans' default of about ten, and
            // give up on a shard sooner, so that a short run sees many faults and recoveries.
            info.Environment["Orleans__ClusterMembership__ProbeTimeout"] = "00:00:01";
            info.Environment["Orleans__ClusterMembership__NumMissedProbesLimit"] = "2";
            info.Environment["Orleans__ClusterMembership__DeathVoteExpirationTimeout"] = "00:00:30";
            info.Environment["ACTORCLUSTER_SHARD__OPERATIONTIMEOUTMILLISECONDS"] = "3000";
            info.Environment["ACTORCLUSTER_SHARD__ATTEMPTTIMEOUTMILLISECONDS"] = "1000";
            // Replace a dead silo's replicas after seconds, not a minute, so a short run sees it.
            info.Environment["ACTORCLUSTER_RING__DEADSTOREGRACESECONDS"] = "10";
            info.Environment["ACTORCLUSTER_RING__REBALANCESETTLESECONDS"] = "3";
        }

        info.Environment["Logging__LogLevel__Default"] = "Warning";
        foreach (var (name, value) in _options.SiloEnvironment)
        {
            info.Environment[name] = value;
        }

        Clocks?.Prepare(silo, info.Environment);

        // The silo exits by itself if the process running the chaos test dies without stopping it.
        info.Environment["ACTORCLUSTER_EXIT_WITH_PARENT"] = Environment.ProcessId.ToString(CultureInfo.InvariantCulture);
        var process = Process.Start(info) ?? throw new InvalidOperationException("Could not start a silo process.");
        silo.Process = process;
        silo.Paused = false;
        _packets?.AdoptAsync(silo).GetAwaiter().GetResult();
        var logPath = Path.Combine(_options.OutputDirectory, $"silo-{silo.Index}.log");
        var writer = new StreamWriter(logPath, append: true) { AutoFlush = true };
        process.OutputDataReceived += (_, e) => Write(writer, e.Data);
        process.ErrorDataReceived += (_, e) => Write(writer, e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        Log($"started silo {silo.Index} (pid {process.Id}, silo port {silo.SiloPort})");
    }

    /// <summary>Waits until every shard of the cluster has a leader; false when it does not within <paramref name="timeout"/>.</summary>
    public static async Task<bool> WaitForLeadersAsync(ActorClusterClient client, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < timeout)
        {
            try
            {
                var status = await client.Cluster.GetGrain<IRingGrain>(IRingGrain.DefaultKey).GetStatus().WaitAsync(TimeSpan.FromSeconds(5), cancellationToken);
                if (status.Shards.All(s => s.Leader != 0))
                {
                    return true;
                }
            }
            catch (Exception e) when (ClusterUnderTest.Recovering(e))
            {
                // Still recovering.
            }

            await Task.Delay(500, cancellationToken);
        }

        return false;
    }

    /// <summary>Waits until the silo answers <c>/readyz</c>, then notes which incarnation (Orleans generation) it runs as.</summary>
    public async Task WaitReadyAsync(SiloProcess silo, TimeSpan timeout, CancellationToken cancellationToken)
    {
        await WaitReadyAsync(_http, silo.Process!, silo.HttpPort, $"Silo {silo.Index}", $"see its log in {_options.OutputDirectory}", timeout, cancellationToken);
        // Its row is the active one on its port; an earlier incarnation's is dead (generations come
        // from clocks, which the clock nemesis skews, so they are not compared). Unknown (null)
        // when the table cannot say: never the previous incarnation's, whose row is dead.
        var rows = await MembershipAsync();
        var active = rows?.Where(row => row.Port == silo.SiloPort && row.Status == MembershipRow.Active && row.Generation != silo.Generation).ToList();
        silo.Generation = active is [var only] ? only.Generation : null;
    }

    /// <summary>Polls a silo process's <c>/readyz</c> until it answers 200; fails if the process exits or the time runs out.</summary>
    internal static async Task WaitReadyAsync(HttpClient http, Process process, int httpPort, string what, string whereToLook, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < timeout)
        {
            if (process.HasExited)
            {
                throw new InvalidOperationException($"{what} exited with code {process.ExitCode}; {whereToLook}.");
            }

            try
            {
                using var response = await http.GetAsync(new Uri($"http://127.0.0.1:{httpPort}/readyz"), cancellationToken);
                if (response.IsSuccessStatusCode)
                {
                    return;
                }
            }
            catch (HttpRequestException)
            {
                // Not listening yet.
            }
            catch (TaskCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                // Not answering yet.
            }

            await Task.Delay(250, cancellationToken);
        }

        throw new TimeoutException($"{what} was not ready within {timeout.TotalSeconds:0}s.");
    }

    public void Kill(SiloProcess silo)
    {
        if (silo.Process is { HasExited: false } process)
        {
            Log($"kill -9 silo {silo.Index} (pid {process.Id})");
            process.Kill(entireProcessTree: true);
            process.WaitForExit(10_000);
        }
    }

    /// <summary>Graceful stop (SIGTERM): the silo hands its leaders over and leaves the cluster. Returns its exit code (-1: it had to be killed).</summary>
    public async Task<int> StopAsync(SiloProcess silo)
    {
        if (silo.Process is not { HasExited: false } process)
        {
            return -1;
        }

        Log($"stop silo {silo.Index} (pid {process.Id})");
        Signal(process.Id, Sigterm);
        var exited = await Task.Run(() => process.WaitForExit(30_000));
        if (exited)
        {
            return process.ExitCode;
        }

        Log($"silo {silo.Index} did not stop within 30 s of SIGTERM; kill -9");
        process.Kill(entireProcessTree: true);
        await Task.Run(() => process.WaitForExit(10_000));
        return -1;
    }

    /// <summary>True when the kernel reports the silo's process as stopped (SIGSTOP).</summary>
    /// <summary>
    /// Whether a failed status query only says the cluster is still recovering: a timeout, an
    /// Orleans error, or an error a silo sent that this process cannot represent (a database error
    /// while a grain activates, say). The harness asks again; anything else is a fault of its own.
    /// </summary>
    public static bool Recovering(Exception e) =>
        e is TimeoutException or OrleansException or NpgsqlException or Orleans.Serialization.UnavailableExceptionFallbackException or Orleans.Serialization.SerializerException;

    public static bool IsStopped(SiloProcess silo)
    {
        if (silo.Process is not { HasExited: false } process)
        {
            return false;
        }

        try
        {
            // /proc/<pid>/stat: "pid (comm) state ..."; the command may contain spaces or parentheses.
            var stat = File.ReadAllText($"/proc/{process.Id}/stat");
            var state = stat[(stat.LastIndexOf(')') + 2)..].Split(' ')[0];
            return state is "T" or "t";
        }
        catch (IOException)
        {
            return false;
        }
    }

    public void Pause(SiloProcess silo)
    {
        if (silo.Process is { HasExited: false } process)
        {
            Log($"SIGSTOP silo {silo.Index}");
            Signal(process.Id, Sigstop);
            silo.Paused = true;
        }
    }

    public void Resume(SiloProcess silo)
    {
        if (silo.Process is { HasExited: false } process && silo.Paused)
        {
            Log($"SIGCONT silo {silo.Index}");
            Signal(process.Id, Sigcont);
            silo.Paused = false;
        }
    }

    /// <summary>The store <paramref name="silo"/> holds (16 hex digits), as its <c>/store</c> endpoint says; null when it does not answer.</summary>
    public async Task<string?> StoreOfAsync(SiloProcess silo)
    {
        if (await StoreReportAsync(silo) is { } root && root.TryGetProperty("store", out var store) && store.GetString() is { } id)
        {
            return id;
        }

        Log($"could not read the store of silo {silo.Index}");
        return null;
    }

    /// <summary>
    /// Drops, at the packet level, everything each <c>From</c> silo sends to its <c>To</c> silo
    /// (whichever side opened the connection); true once every cut has dropped packets or has
    /// none to drop (a silo declared dead or stopped). Silos pulse each other every 200 ms, so a
    /// cut that drops nothing within 10 s is not in place.
    /// </summary>
    public async Task<bool> CutAsync(IReadOnlyList<(SiloProcess From, SiloProcess To)> cuts)
    {
        if (_packets is null)
        {
            Log("partitions need the packet filter, which this run did not set up");
            return false;
        }

        foreach (var (from, to) in cuts)
        {
            await _packets.CutAsync(from, to);
        }

        var clock = Stopwatch.StartNew();
        Dictionary<string, long> dropped = [];
        while (clock.Elapsed < TimeSpan.FromSeconds(10))
        {
            dropped = await _packets.DroppedAsync();
            if (dropped.Count >= cuts.Count && dropped.Values.All(packets => packets > 0))
            {
                Log($"every cut drops packets: {string.Join(", ", dropped.Select(d => $"{d.Key}: {d.Value}"))}");
                return true;
            }

            await Task.Delay(100);
        }

        // A silo that Orleans declared dead is sent nothing by the others, and one that stopped sends
        // and receives nothing: a cut to or from it has nothing to drop.
        var membership = await MembershipAsync();
        var moot = cuts.Where(cut => cut.From.Process is not { HasExited: false } || cut.To.Process is not { HasExited: false }
            || DeclaredDead(cut.From, membership) || DeclaredDead(cut.To, membership)).Select(cut => $"silo {cut.From.Index} -> silo {cut.To.Index}").ToHashSet();
        if (dropped.Count >= cuts.Count && dropped.All(d => d.Value > 0 || moot.Contains(d.Key)))
        {
            Log($"every cut drops packets, or has none to drop (a silo declared dead or stopped: {string.Join(", ", moot)}): {string.Join(", ", dropped.Select(d => $"{d.Key}: {d.Value}"))}");
            return true;
        }

        Log($"not every cut dropped packets within 10 s: {string.Join(", ", dropped.Select(d => $"{d.Key}: {d.Value}"))}");
        return false;
    }

    /// <summary>
    /// Orleans' membership table now: every incarnation of every silo, with its status and the
    /// suspicions other silos recorded against it. Null when the table cannot be read.
    /// </summary>
    public async Task<IReadOnlyList<MembershipRow>?> MembershipAsync()
    {
        try
        {
            await using var connection = new NpgsqlConnection(_options.PostgresConnectionString);
            await connection.OpenAsync();
            await using var command = new NpgsqlCommand(
                "SELECT Port, Generation, Status, COALESCE(SuspectTimes, '') FROM OrleansMembershipTable WHERE DeploymentId = @cluster", connection);
            command.Parameters.AddWithValue("cluster", ClusterId);
            await using var reader = await command.ExecuteReaderAsync();
            var rows = new List<MembershipRow>();
            while (await reader.ReadAsync())
            {
                rows.Add(new MembershipRow(reader.GetInt32(0), reader.GetInt32(1), reader.GetInt32(2), reader.GetString(3)));
            }

            return rows;
        }
        catch (Exception e) when (e is NpgsqlException or TimeoutException or InvalidOperationException)
        {
            return null;
        }
    }

    /// <summary>
    /// Whether Orleans has declared the running incarnation of <paramref name="silo"/> dead: the
    /// others no longer send it anything, and it stops as soon as it learns so.
    /// </summary>
    public static bool DeclaredDead(SiloProcess silo, IReadOnlyList<MembershipRow>? membership) =>
        silo.Generation is { } generation && membership is not null
        && membership.Any(row => row.Port == silo.SiloPort && row.Generation == generation && row.Status == MembershipRow.Dead);

    /// <summary>Lifts every cut; true when none is left.</summary>
    public async Task<bool> HealAsync() => _packets is null || await _packets.HealAsync();

    public async ValueTask DisposeAsync()
    {
        foreach (var silo in _silos)
        {
            if (silo.Process is { HasExited: false } process)
            {
                if (silo.Paused)
                {
                    Signal(process.Id, Sigcont);
                }

                process.Kill(entireProcessTree: true);
                await process.WaitForExitAsync();
            }

            silo.Process?.Dispose();
        }

        _http.Dispose();
        if (_packets is not null)
        {
            await _packets.DisposeAsync();
        }

        foreach (var directory in _mounted)
        {
            var (code, errors) = await RunAsync("umount", ["-l", directory]);
            if (code != 0)
            {
                Log($"could not unmount {directory}: {errors.Trim()}");
            }
        }

        if (_runLock is not null)
        {
            await _runLock.DisposeAsync();
        }

        try
        {
            // The run's own database; nobody else uses it.
            await AdminAsync(_options.PostgresConnectionString, $"DROP DATABASE IF EXISTS \"{new NpgsqlConnectionStringBuilder(_options.PostgresConnectionString).Database}\" WITH (FORCE)", CancellationToken.None);
        }
        catch (NpgsqlException e)
        {
            Log($"could not drop the run's database: {e.Message}");
        }
    }

    /// <summary>Sends a fault command; returns the answer, or null when the silo did not accept it.</summary>
    private async Task<string?> SendAsync(HttpMethod method, SiloProcess silo, string path)
    {
        for (var attempt = 0; attempt < 3; attempt++)
        {
            try
            {
                using var request = new HttpRequestMessage(method, new Uri($"http://127.0.0.1:{silo.HttpPort}{path}"));
                using var response = await _http.SendAsync(request);
                if (response.IsSuccessStatusCode)
                {
                    return await response.Content.ReadAsStringAsync();
                }

                Log($"silo {silo.Index} refused {method} {path}: {(int)response.StatusCode}");
                return null;
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
            {
                Log($"could not reach silo {silo.Index} for {method} {path}: {e.GetType().Name}");
            }
        }

        return null;
    }

    /// <summary>A port nobody listens on right now.</summary>
    /// <summary>
    /// <paramref name="count"/> ports nobody listens on now and that this process has not handed
    /// out before. The kernel may give a port it just gave (and that was closed again, as these
    /// probes are) to the next probe: two silos of one run once got the same silo port, and Orleans
    /// took the second for a restart of the first and declared the first dead.
    /// </summary>
    internal static int[] FreePorts(int count)
    {
        var ports = new List<int>(count);
        while (ports.Count < count)
        {
            var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
            listener.Start();
            var port = ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
            listener.Stop();
            lock (HandedOut)
            {
                if (HandedOut.Add(port))
                {
                    ports.Add(port);
                }
            }
        }

        return [.. ports];
    }

    private static readonly HashSet<int> HandedOut = [];

    private void Log(string message)
    {
        lock (_log)
        {
            _log.WriteLine($"{DateTime.UtcNow:HH:mm:ss.fff} nemesis: {message}");
        }
    }

    private static void Write(StreamWriter writer, string? line)
    {
        if (line is not null)
        {
            lock (writer)
            {
                writer.WriteLine(line);
            }
        }
    }

    /// <summary>The silo program of this repository's build.</summary>
    internal static string FindSilo()
    {
        var directory = new DirectoryInfo(AppContext.BaseDirectory);
        while (directory is not null && !File.Exists(Path.Combine(directory.FullName, "ActorCluster.sln")))
        {
            directory = directory.Parent;
        }

        if (directory is null)
        {
            throw new InvalidOperationException("Cannot find ActorCluster.sln above the client program; run the chaos command from the repository.");
        }

        // The silo built alongside this program first, so a stale build of the other kind is not used.
        var preferRelease = AppContext.BaseDirectory.Contains($"{Path.DirectorySeparatorChar}Release{Path.DirectorySeparatorChar}", StringComparison.Ordinal);
        foreach (var configuration in preferRelease ? new[] { "Release", "Debug" } : ["Debug", "Release"])
        {
            var dll = Path.Combine(directory.FullName, "Silo", "bin", configuration, "net10.0", "ActorCluster.Silo.dll");
            if (File.Exists(dll))
            {
                return dll;
            }
        }

        throw new InvalidOperationException("The silo is not built: run 'dotnet build -c Release Silo' first.");
    }

    /// <summary>Creates <c>{database}_{unique suffix}</c>; returns its connection string.</summary>
    private static async Task<string> CreateDatabaseAsync(string connectionString, CancellationToken cancellationToken)
    {
        var target = new NpgsqlConnectionStringBuilder(connectionString);
        target.Database = $"{target.Database}_{DateTime.UtcNow:yyyyMMddHHmmss}_{Guid.NewGuid().ToString("N")[..8]}";
        await AdminAsync(connectionString, $"CREATE DATABASE \"{target.Database}\"", cancellationToken);
        return target.ConnectionString;
    }

    private static async Task AdminAsync(string connectionString, string sql, CancellationToken cancellationToken)
    {
        var admin = new NpgsqlConnectionStringBuilder(connectionString) { Database = "postgres" };
        await using var connection = new NpgsqlConnection(admin.ConnectionString);
        await connection.OpenAsync(cancellationToken);
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    private const int Sigterm = 15;
    private const int Sigstop = 19;
    private const int Sigcont = 18;

    private static void Signal(int pid, int signal)
    {
        if (SendSignal(pid, signal) != 0)
        {
            throw new InvalidOperationException($"kill({pid}, {signal}) failed with errno {Marshal.GetLastPInvokeError()}.");
        }
    }

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static partial int SendSignal(int pid, int signal);
}

/// <summary>What a silo's store reports about its writes (see the silo's <c>/store</c>).</summary>
internal sealed record StoreWriteReport(long Transactions, long WritesRefused, long WritesFailed, long? FreeBytes, long MinFreeBytes, int StalledWriters);

/// <summary>One silo process and its ports (kept across restarts: the endpoint is its identity).</summary>
internal sealed class SiloProcess(int index, int[] ports)
{
    public int Index { get; } = index;

    public int SiloPort { get; } = ports[0];

    public int GatewayPort { get; } = ports[1];

    public int HttpPort { get; } = ports[2];

    public Process? Process { get; set; }

    public bool Paused { get; set; }

    /// <summary>The Orleans generation of the running incarnation, once it was ready.</summary>
    public int? Generation { get; set; }

    public bool IsRunning => Process is { HasExited: false } && !Paused;

    public string Endpoint => $"127.0.0.1:{SiloPort}";
}

/// <summary>One incarnation of a silo in Orleans' membership table.</summary>
internal sealed record MembershipRow(int Port, int Generation, int Status, string Suspicions)
{
    public const int Active = 3;
    public const int Dead = 6;
}

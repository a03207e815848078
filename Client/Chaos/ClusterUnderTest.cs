using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using ActorCluster.Grains.Interfaces;
using Npgsql;

namespace ActorCluster.Client.Chaos;

/// <summary>
/// A real cluster of silo processes on loopback, sharing PostgreSQL for membership and replica
/// state, that a chaos run can kill, freeze, partition, grow and shrink.
/// </summary>
internal sealed partial class ClusterUnderTest : IAsyncDisposable
{
    private readonly ChaosOptions _options;
    private readonly string _siloDll;
    private readonly List<SiloProcess> _silos = [];
    private readonly HttpClient _http = new() { Timeout = TimeSpan.FromSeconds(2) };
    private readonly TextWriter _log;

    private readonly bool _fastFailureDetection;
    private readonly bool _faultInjection;

    private ClusterUnderTest(ChaosOptions options, string siloDll, TextWriter log, bool fastFailureDetection, bool faultInjection)
    {
        _options = options;
        _siloDll = siloDll;
        _log = log;
        _fastFailureDetection = fastFailureDetection;
        _faultInjection = faultInjection;
    }

    public IReadOnlyList<SiloProcess> Silos => _silos;

    public string ClusterId { get; } = $"chaos-{Environment.ProcessId}";

    public IEnumerable<string> Gateways => _silos.Select(s => $"127.0.0.1:{s.GatewayPort}");

    /// <summary>
    /// Creates a fresh database and starts the initial silos, waiting until they are ready. Fault
    /// tests detect dead silos faster than Orleans' defaults and accept fault-injection commands;
    /// benchmarks run the silos as configured by default.
    /// </summary>
    public static async Task<ClusterUnderTest> StartAsync(ChaosOptions options, TextWriter log, CancellationToken cancellationToken, bool fastFailureDetection = true, bool faultInjection = true)
    {
        var siloDll = FindSilo();
        await RecreateDatabaseAsync(options.PostgresConnectionString, cancellationToken);
        var cluster = new ClusterUnderTest(options, siloDll, log, fastFailureDetection, faultInjection);
        for (var i = 0; i < options.Silos; i++)
        {
            cluster._silos.Add(new SiloProcess(i, options.BasePort));
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
        var silo = new SiloProcess(_silos.Count, _options.BasePort);
        _silos.Add(silo);
        Start(silo);
        return silo;
    }

    public void Start(SiloProcess silo)
    {
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
            ("--name", $"chaos-{silo.Index}"), ("--address", "127.0.0.1"),
            ("--silo-port", silo.SiloPort.ToString(CultureInfo.InvariantCulture)),
            ("--gateway-port", silo.GatewayPort.ToString(CultureInfo.InvariantCulture)),
            ("--http-port", silo.HttpPort.ToString(CultureInfo.InvariantCulture)),
            ("--shards", _options.Shards.ToString(CultureInfo.InvariantCulture)),
            ("--dashboard", "false"), ("--fault-injection", _faultInjection ? "true" : "false"),
        })
        {
            info.ArgumentList.Add(name);
            info.ArgumentList.Add(value);
        }

        if (_fastFailureDetection)
        {
            // Detect dead silos in a few seconds rather than Orleans' default of about ten, and
            // give up on a shard sooner, so that a short run sees many faults and recoveries.
            info.Environment["Orleans__ClusterMembership__ProbeTimeout"] = "00:00:01";
            info.Environment["Orleans__ClusterMembership__NumMissedProbesLimit"] = "2";
            info.Environment["Orleans__ClusterMembership__DeathVoteExpirationTimeout"] = "00:00:30";
            info.Environment["ACTORCLUSTER_SHARD__OPERATIONTIMEOUTMILLISECONDS"] = "3000";
            info.Environment["ACTORCLUSTER_SHARD__ATTEMPTTIMEOUTMILLISECONDS"] = "1000";
        }

        info.Environment["Logging__LogLevel__Default"] = "Warning";
        var process = Process.Start(info) ?? throw new InvalidOperationException("Could not start a silo process.");
        silo.Process = process;
        silo.Paused = false;
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
                if (status.Shards.All(s => s.LeaderSlot != 0))
                {
                    return true;
                }
            }
            catch (Exception e) when (e is TimeoutException or OrleansException)
            {
                // Still recovering.
            }

            await Task.Delay(500, cancellationToken);
        }

        return false;
    }

    public Task WaitReadyAsync(SiloProcess silo, TimeSpan timeout, CancellationToken cancellationToken) =>
        WaitReadyAsync(_http, silo.Process!, silo.HttpPort, $"Silo {silo.Index}", $"see its log in {_options.OutputDirectory}", timeout, cancellationToken);

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

    /// <summary>Graceful stop (SIGTERM): the silo hands its leaders over and leaves the cluster.</summary>
    public async Task StopAsync(SiloProcess silo)
    {
        if (silo.Process is { HasExited: false } process)
        {
            Log($"stop silo {silo.Index} (pid {process.Id})");
            Signal(process.Id, Sigterm);
            var exited = await Task.Run(() => process.WaitForExit(30_000));
            if (!exited)
            {
                Log($"silo {silo.Index} did not stop within 30 s of SIGTERM; kill -9");
                process.Kill(entireProcessTree: true);
                await Task.Run(() => process.WaitForExit(10_000));
            }
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

    /// <summary>Makes <paramref name="silo"/> drop Raft messages from <paramref name="from"/>.</summary>
    public async Task BlockAsync(SiloProcess silo, IEnumerable<SiloProcess> from)
    {
        var block = string.Join(',', from.Select(s => $"127.0.0.1:{s.SiloPort}"));
        await SendAsync(HttpMethod.Put, silo, $"/faults/partition?block={Uri.EscapeDataString(block)}");
    }

    public async Task HealAsync()
    {
        foreach (var silo in _silos.Where(s => s.IsRunning))
        {
            await SendAsync(HttpMethod.Delete, silo, "/faults/partition");
        }
    }

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
    }

    private async Task SendAsync(HttpMethod method, SiloProcess silo, string path)
    {
        try
        {
            using var request = new HttpRequestMessage(method, new Uri($"http://127.0.0.1:{silo.HttpPort}{path}"));
            using var response = await _http.SendAsync(request);
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
        {
            // A frozen or dead silo cannot be told; healing happens when it comes back.
            Log($"could not reach silo {silo.Index} for {method} {path}: {e.GetType().Name}");
        }
    }

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

    private static async Task RecreateDatabaseAsync(string connectionString, CancellationToken cancellationToken)
    {
        var target = new NpgsqlConnectionStringBuilder(connectionString);
        var admin = new NpgsqlConnectionStringBuilder(connectionString) { Database = "postgres" };
        await using var connection = new NpgsqlConnection(admin.ConnectionString);
        await connection.OpenAsync(cancellationToken);
        foreach (var sql in new[] { $"DROP DATABASE IF EXISTS \"{target.Database}\" WITH (FORCE)", $"CREATE DATABASE \"{target.Database}\"" })
        {
            await using var command = new NpgsqlCommand(sql, connection);
            await command.ExecuteNonQueryAsync(cancellationToken);
        }
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

/// <summary>One silo process and its ports.</summary>
internal sealed class SiloProcess(int index, int basePort)
{
    public int Index { get; } = index;

    public int SiloPort { get; } = basePort + index;

    public int GatewayPort { get; } = basePort + 100 + index;

    public int HttpPort { get; } = basePort + 200 + index;

    public Process? Process { get; set; }

    public bool Paused { get; set; }

    public bool IsRunning => Process is { HasExited: false } && !Paused;

    public string Endpoint => $"127.0.0.1:{SiloPort}";
}

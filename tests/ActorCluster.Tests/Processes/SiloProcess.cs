using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace ActorCluster.Tests.Processes;

/// <summary>
/// A program of this repository (the silo or the command line) run as a child process. Output is
/// captured; the process is killed when disposed and, should the test run end first, when the test
/// process exits, so that no silo outlives the run that started it.
/// </summary>
internal sealed class ChildProcess : IAsyncDisposable
{
    private static readonly ConcurrentDictionary<int, Process> Running = new();
    private readonly StringBuilder _output = new();
    private readonly StringBuilder _errors = new();
    private readonly List<(string Marker, TaskCompletionSource Seen)> _waiters = [];

    static ChildProcess() => AppDomain.CurrentDomain.ProcessExit += (_, _) =>
    {
        foreach (var process in Running.Values)
        {
            try
            {
                process.Kill(entireProcessTree: true);
            }
            catch (InvalidOperationException)
            {
                // Already gone.
            }
        }
    };

    private ChildProcess(Process process) => Process = process;

    public Process Process { get; }

    public int Id => Process.Id;

    /// <summary>Everything written to standard output so far.</summary>
    public string Output
    {
        get
        {
            lock (_output)
            {
                return _output.ToString();
            }
        }
    }

    /// <summary>Everything written to standard error so far.</summary>
    public string Errors
    {
        get
        {
            lock (_errors)
            {
                return _errors.ToString();
            }
        }
    }

    /// <summary>Starts <c>dotnet dll arguments...</c>.</summary>
    public static ChildProcess Start(string dll, IEnumerable<string> arguments, IReadOnlyDictionary<string, string>? environment = null)
    {
        var info = new ProcessStartInfo("dotnet") { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
        info.ArgumentList.Add(dll);
        foreach (var argument in arguments)
        {
            info.ArgumentList.Add(argument);
        }

        foreach (var (name, value) in environment ?? new Dictionary<string, string>())
        {
            info.Environment[name] = value;
        }

        // A silo exits by itself if this test process dies without killing it.
        if (!info.Environment.ContainsKey("ACTORCLUSTER_EXIT_WITH_PARENT"))
        {
            info.Environment["ACTORCLUSTER_EXIT_WITH_PARENT"] = Environment.ProcessId.ToString(System.Globalization.CultureInfo.InvariantCulture);
        }

        var process = new Process { StartInfo = info };
        var child = new ChildProcess(process);
        process.OutputDataReceived += (_, e) => child.Append(child._output, e.Data);
        process.ErrorDataReceived += (_, e) => child.Append(child._errors, e.Data);
        process.Start();
        Running[process.Id] = process;
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return child;
    }

    /// <summary>Runs to completion (killed after <paramref name="timeout"/>); returns the exit code.</summary>
    public static async Task<(int ExitCode, string Output, string Errors)> RunAsync(string dll, IEnumerable<string> arguments, TimeSpan? timeout = null, IReadOnlyDictionary<string, string>? environment = null)
    {
        await using var child = Start(dll, arguments, environment);
        var code = await child.WaitForExitAsync(timeout ?? TimeSpan.FromSeconds(120));
        return (code, child.Output.Trim(), child.Errors.Trim());
    }

    /// <summary>Waits until a line of standard output contains <paramref name="marker"/>; fails if the process exits first.</summary>
    public async Task WaitForOutputAsync(string marker, TimeSpan timeout)
    {
        var seen = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        lock (_output)
        {
            if (_output.ToString().Contains(marker, StringComparison.Ordinal))
            {
                return;
            }

            _waiters.Add((marker, seen));
        }

        var exited = Process.WaitForExitAsync();
        var done = await Task.WhenAny(seen.Task, exited, Task.Delay(timeout));
        if (done != seen.Task)
        {
            throw new TimeoutException(done == exited
                ? $"The process exited with {Process.ExitCode} before printing '{marker}'. Errors: {Errors}"
                : $"No '{marker}' within {timeout.TotalSeconds:0}s. Output: {Output} Errors: {Errors}");
        }
    }

    /// <summary>Sends a signal (TERM, KILL, STOP, CONT) with kill(1).</summary>
    public async Task SignalAsync(string signal)
    {
        using var kill = Process.Start("kill", [$"-{signal}", Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
        await kill.WaitForExitAsync();
    }

    /// <summary>Waits for the process to exit; kills it and fails after <paramref name="timeout"/>.</summary>
    public async Task<int> WaitForExitAsync(TimeSpan timeout)
    {
        using var cancel = new CancellationTokenSource(timeout);
        try
        {
            await Process.WaitForExitAsync(cancel.Token);
        }
        catch (OperationCanceledException)
        {
            Process.Kill(entireProcessTree: true);
            throw new TimeoutException($"The process did not exit within {timeout.TotalSeconds:0}s. Output: {Output} Errors: {Errors}");
        }

        // The output handlers may still be draining.
        Process.WaitForExit();
        return Process.ExitCode;
    }

    public async ValueTask DisposeAsync()
    {
        if (!Process.HasExited)
        {
            Process.Kill(entireProcessTree: true);
            await Process.WaitForExitAsync();
        }

        Running.TryRemove(Process.Id, out _);
        Process.Dispose();
    }

    private void Append(StringBuilder buffer, string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (_output)
        {
            lock (_errors)
            {
                buffer.AppendLine(line);
            }

            if (ReferenceEquals(buffer, _output))
            {
                foreach (var waiter in _waiters.Where(w => line.Contains(w.Marker, StringComparison.Ordinal)).ToList())
                {
                    waiter.Seen.TrySetResult();
                    _waiters.Remove(waiter);
                }
            }
        }
    }
}

/// <summary>Paths of the repository's built programs, and free loopback ports.</summary>
internal static class Programs
{
    public static string Configuration => AppContext.BaseDirectory.Contains($"{Path.DirectorySeparatorChar}Release{Path.DirectorySeparatorChar}", StringComparison.Ordinal) ? "Release" : "Debug";

    public static string SiloDll => Path.Combine(PurityTests.RepositoryRoot(), "Silo", "bin", Configuration, "net10.0", "ActorCluster.Silo.dll");

    public static string CliDll => Path.Combine(AppContext.BaseDirectory, "ActorCluster.Cli.dll");

    /// <summary>
    /// The switches of a development cluster of <paramref name="silos"/> silos on the given first
    /// ports (each silo takes the next port up), storing under <paramref name="dataDirectory"/>,
    /// without dashboard; <paramref name="extra"/> switches follow.
    /// </summary>
    public static string[] SiloArguments(string dataDirectory, int silos, int siloPort, int gatewayPort, int httpPort = 0, params string[] extra) =>
    [
        "--silos", $"{silos}", "--data-dir", dataDirectory, "--silo-port", $"{siloPort}", "--primary-port", $"{siloPort}",
        "--gateway-port", $"{gatewayPort}", "--http-port", $"{httpPort}", "--dashboard", "false", .. extra,
    ];

    /// <summary>
    /// <paramref name="count"/> consecutive ports nobody listens on right now, from a random base
    /// (a local development cluster numbers its silos' ports from one base).
    /// </summary>
    public static int FreePortBlock(int count)
    {
        for (var attempt = 0; attempt < 100; attempt++)
        {
            var first = Random.Shared.Next(20_000, 60_000);
            var listeners = new List<TcpListener>();
            try
            {
                for (var port = first; port < first + count; port++)
                {
                    var listener = new TcpListener(IPAddress.Any, port);
                    listener.Start();
                    listeners.Add(listener);
                }

                return first;
            }
            catch (SocketException)
            {
                // Taken: try another base.
            }
            finally
            {
                listeners.ForEach(l => l.Stop());
            }
        }

        throw new InvalidOperationException($"No {count} consecutive free ports found.");
    }

    /// <summary>
    /// Ports nobody listens on right now (the kernel picks them), so that two runs on one machine
    /// never collide on fixed numbers.
    /// </summary>
    public static int[] FreePorts(int count)
    {
        var listeners = Enumerable.Range(0, count).Select(_ => new TcpListener(IPAddress.Loopback, 0)).ToList();
        try
        {
            listeners.ForEach(l => l.Start());
            return [.. listeners.Select(l => ((IPEndPoint)l.LocalEndpoint).Port)];
        }
        finally
        {
            listeners.ForEach(l => l.Stop());
        }
    }
}

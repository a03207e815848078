using System.Diagnostics;
using ActorCluster.Client;
using ActorCluster.Cli.Chaos;

namespace ActorCluster.Compare;

/// <summary>
/// The embedded default, started as a user would (<c>dotnet run --project Silo</c>): three silos in
/// one process on SQLite, in a fresh data directory, on ports of its own.
/// </summary>
internal sealed class EmbeddedCluster : IAsyncDisposable
{
    private const int SiloPort = 26000;
    private const int GatewayPort = 26100;
    private const int HttpPort = 26200;
    private readonly Process _process;
    private readonly string _dataDirectory;

    /// <summary>The silo process (its three silos share it).</summary>
    public int ProcessId => _process.Id;

    private EmbeddedCluster(Process process, string dataDirectory)
    {
        _process = process;
        _dataDirectory = dataDirectory;
    }

    public static ActorClusterClientOptions ClientOptions
    {
        get
        {
            var options = new ActorClusterClientOptions { TimeoutMilliseconds = 10_000, Retries = 3 };
            for (var i = 0; i < 3; i++)
            {
                options.Gateways.Add($"127.0.0.1:{GatewayPort + i}");
            }

            return options;
        }
    }

    public static async Task<EmbeddedCluster> StartAsync()
    {
        var dataDirectory = Directory.CreateTempSubdirectory("actorcluster-compare-embedded-").FullName;
        var silo = ClusterUnderTest.FindSilo();
        var info = new ProcessStartInfo("dotnet") { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var argument in new[]
        {
            silo, "--data-dir", dataDirectory, "--silo-port", $"{SiloPort}", "--gateway-port", $"{GatewayPort}",
            "--http-port", $"{HttpPort}", "--dashboard", "false",
        })
        {
            info.ArgumentList.Add(argument);
        }

        info.Environment["ACTORCLUSTER_EXIT_WITH_PARENT"] = Environment.ProcessId.ToString(System.Globalization.CultureInfo.InvariantCulture);
        var process = Process.Start(info) ?? throw new InvalidOperationException("Could not start the silo.");
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var cluster = new EmbeddedCluster(process, dataDirectory);
        try
        {
            using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
            await ClusterUnderTest.WaitReadyAsync(http, process, HttpPort, "The embedded cluster", "run it by hand to see why", TimeSpan.FromSeconds(90), CancellationToken.None);
            return cluster;
        }
        catch
        {
            await cluster.DisposeAsync();
            throw;
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }

        _process.Dispose();
        Directory.Delete(_dataDirectory, recursive: true);
    }
}

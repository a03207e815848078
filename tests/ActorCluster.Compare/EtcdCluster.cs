using System.Diagnostics;
using dotnet_etcd;
using Etcdserverpb;

namespace ActorCluster.Compare;

/// <summary>A 3-member etcd cluster on loopback, from the etcd binary on the PATH (Debian's etcd-server).</summary>
internal sealed class EtcdCluster : IAsyncDisposable
{
    private const int ClientPort = 23790;
    private const int PeerPort = 23800;
    private readonly string _root = Path.Combine(Path.GetTempPath(), "actorcluster-compare-etcd");
    private readonly Process?[] _members = new Process?[3];

    public static string Endpoint(int member) => $"http://127.0.0.1:{ClientPort + member}";

    public static string Endpoints => string.Join(',', Enumerable.Range(0, 3).Select(Endpoint));

    public static async Task<EtcdCluster> StartAsync()
    {
        var cluster = new EtcdCluster();
        if (Directory.Exists(cluster._root))
        {
            Directory.Delete(cluster._root, recursive: true);
        }

        for (var i = 0; i < 3; i++)
        {
            cluster.Start(i, initial: true);
        }

        await cluster.WaitHealthyAsync(TimeSpan.FromSeconds(60));
        return cluster;
    }

    public void Start(int member, bool initial)
    {
        var info = new ProcessStartInfo("etcd") { UseShellExecute = false, RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (var argument in new[]
        {
            "--name", $"e{member}",
            "--data-dir", Path.Combine(_root, $"e{member}"),
            "--listen-client-urls", Endpoint(member),
            "--advertise-client-urls", Endpoint(member),
            "--listen-peer-urls", $"http://127.0.0.1:{PeerPort + member}",
            "--initial-advertise-peer-urls", $"http://127.0.0.1:{PeerPort + member}",
            "--initial-cluster", string.Join(',', Enumerable.Range(0, 3).Select(i => $"e{i}=http://127.0.0.1:{PeerPort + i}")),
            "--initial-cluster-token", "actorcluster-compare",
            "--initial-cluster-state", initial ? "new" : "existing",
            "--logger", "zap", "--log-level", "error",
        })
        {
            info.ArgumentList.Add(argument);
        }

        var process = Process.Start(info) ?? throw new InvalidOperationException("Could not start etcd.");
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        _members[member] = process;
    }

    /// <summary>The process ids of the members running now.</summary>
    public IReadOnlyList<int> ProcessIds => [.. _members.Where(p => p is { HasExited: false }).Select(p => p!.Id)];

    public void Kill(int member)
    {
        if (_members[member] is { HasExited: false } process)
        {
            process.Kill(entireProcessTree: true);
            process.WaitForExit(10_000);
        }
    }

    /// <summary>The member that leads, asked of each live member in turn.</summary>
    public async Task<int> LeaderAsync()
    {
        for (var i = 0; i < 3; i++)
        {
            if (_members[i] is not { HasExited: false })
            {
                continue;
            }

            try
            {
                using var client = new EtcdClient(Endpoint(i));
                using var attempt = new CancellationTokenSource(TimeSpan.FromSeconds(2));
                var status = await client.StatusAsync(new StatusRequest(), cancellationToken: attempt.Token);
                if (status.Leader == 0)
                {
                    continue;
                }

                for (var j = 0; j < 3; j++)
                {
                    if (_members[j] is not { HasExited: false })
                    {
                        continue;
                    }

                    using var member = new EtcdClient(Endpoint(j));
                    using var ask = new CancellationTokenSource(TimeSpan.FromSeconds(2));
                    var own = await member.StatusAsync(new StatusRequest(), cancellationToken: ask.Token);
                    if (own.Header.MemberId == status.Leader)
                    {
                        return j;
                    }
                }
            }
            catch (Exception e) when (e is Grpc.Core.RpcException or OperationCanceledException)
            {
                // Try the next member.
            }
        }

        throw new InvalidOperationException("No etcd member knows a leader.");
    }

    public async Task WaitHealthyAsync(TimeSpan timeout)
    {
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < timeout)
        {
            try
            {
                using var client = new EtcdClient(Endpoints);
                using var attempt = new CancellationTokenSource(TimeSpan.FromSeconds(2));
                await client.PutAsync(new PutRequest { Key = Google.Protobuf.ByteString.CopyFromUtf8("health"), Value = Google.Protobuf.ByteString.CopyFromUtf8("ok") }, cancellationToken: attempt.Token);
                await LeaderAsync();
                return;
            }
            catch (Exception e) when (e is Grpc.Core.RpcException or InvalidOperationException or OperationCanceledException)
            {
                await Task.Delay(250);
            }
        }

        throw new TimeoutException("etcd did not become healthy.");
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var process in _members)
        {
            if (process is { HasExited: false })
            {
                process.Kill(entireProcessTree: true);
                await process.WaitForExitAsync();
            }

            process?.Dispose();
        }
    }
}

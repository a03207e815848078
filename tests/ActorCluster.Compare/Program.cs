using System.Globalization;
using System.Text;
using System.Text.Json;
using ActorCluster.Client;
using ActorCluster.Cli.Chaos;
using ActorCluster.Cli.Load;
using ActorCluster.Compare;
using ActorCluster.Grains.Interfaces;
using dotnet_etcd;
using Etcdserverpb;
using Google.Protobuf;

// ActorCluster and etcd side by side on this machine, one at a time, through the same load
// generator. Run it with deploy/bench/compare-etcd.sh, which installs etcd and PostgreSQL if needed.
//   --clients 1,16,64 --duration 10s --warmup 2s --repetitions 3 --failovers 5 [--json]
//   [--no-embedded] [--fast-failure-detection]
var arguments = args.ToList();
string[] valueOptions = ["--clients", "--duration", "--warmup", "--repetitions", "--failovers", "--postgres"];
string[] flags = ["--json", "--no-embedded", "--fast-failure-detection"];
for (var i = 0; i < arguments.Count; i++)
{
    // A mistyped option must not silently run the defaults for an hour.
    if (valueOptions.Contains(arguments[i]) && i + 1 < arguments.Count)
    {
        i++;
    }
    else if (!flags.Contains(arguments[i]))
    {
        Console.Error.WriteLine($"Unknown or incomplete argument '{arguments[i]}'. Options: {string.Join(", ", valueOptions.Select(o => o + " <value>"))}, {string.Join(", ", flags)}.");
        return 2;
    }
}

string Option(string name, string fallback) => arguments.IndexOf(name) is var i and >= 0 && i + 1 < arguments.Count ? arguments[i + 1] : fallback;
var clientCounts = Option("--clients", "1,16,64").Split(',').Select(c => int.Parse(c, CultureInfo.InvariantCulture)).ToArray();
var duration = TimeSpan.FromSeconds(double.Parse(Option("--duration", "10").TrimEnd('s'), CultureInfo.InvariantCulture));
var warmup = TimeSpan.FromSeconds(double.Parse(Option("--warmup", "2").TrimEnd('s'), CultureInfo.InvariantCulture));
var repetitions = int.Parse(Option("--repetitions", "3"), CultureInfo.InvariantCulture);
var failovers = int.Parse(Option("--failovers", "5"), CultureInfo.InvariantCulture);
var postgres = Option("--postgres", "Host=127.0.0.1;Port=5432;Username=postgres;Password=postgres;Database=actorcluster_compare;Timeout=5");
// How long one failover probe attempt may take before another is sent.
var ProbeAttempt = TimeSpan.FromMilliseconds(250);
var results = new List<Result>();
var failoverResults = new Dictionary<string, List<double>>();

// etcd first, then ActorCluster: never both at once.
await using (var etcd = await EtcdCluster.StartAsync())
{
    var client = new EtcdClient(EtcdCluster.Endpoints);
    Task Put(string key, byte[] value) => client.PutAsync(new PutRequest { Key = ByteString.CopyFromUtf8(key), Value = ByteString.CopyFrom(value) });
    Task Get(string key) => client.GetAsync(new RangeRequest { Key = ByteString.CopyFromUtf8(key) });
    // A token rather than a gRPC deadline: an expiring deadline can throw on a timer thread.
    Task Probe(string key, CancellationToken token) =>
        client.PutAsync(new PutRequest { Key = ByteString.CopyFromUtf8(key), Value = ByteString.CopyFrom([1]) }, cancellationToken: token);

    results.AddRange(await MeasureAsync("etcd", Put, Get, e => e is Grpc.Core.RpcException, () => etcd.ProcessIds));
    failoverResults["etcd"] = await FailoverAsync("etcd", async () =>
    {
        var leader = await etcd.LeaderAsync();
        etcd.Kill(leader);
        return leader;
    }, Probe, async killed =>
    {
        etcd.Start(killed, initial: false);
        await etcd.WaitHealthyAsync(TimeSpan.FromSeconds(60));
    });
}

var chaosOptions = new ChaosOptions { PostgresConnectionString = postgres, Shards = 8, OutputDirectory = Path.Combine(Path.GetTempPath(), "actorcluster-compare") };
Directory.CreateDirectory(chaosOptions.OutputDirectory);
// Orleans's default failure detection unless --fast-failure-detection (1 s probes, 2 misses), which
// the chaos runs use.
var fastFailureDetection = arguments.Contains("--fast-failure-detection");
await using (var cluster = await ClusterUnderTest.StartAsync(chaosOptions, Console.Error, CancellationToken.None, fastFailureDetection, faultInjection: false))
{
    var options = new ActorClusterClientOptions { ClusterId = cluster.ClusterId, TimeoutMilliseconds = 10_000, Retries = 3 };
    foreach (var gateway in cluster.Gateways)
    {
        options.Gateways.Add(gateway);
    }

    await using var client = await ActorClusterClient.ConnectAsync(options);
    await ClusterUnderTest.WaitForLeadersAsync(client, TimeSpan.FromSeconds(120), CancellationToken.None);
    Task Put(string key, byte[] value) => client.PutAsync(key, value);
    Task Get(string key) => client.GetAsync(key);
    Task Probe(string key, CancellationToken token) => client.PutAsync(key, [1], token);

    results.AddRange(await MeasureAsync("ActorCluster", Put, Get, e => e is ActorClusterException, () => [.. cluster.Silos.Where(s => s.IsRunning).Select(s => s.Process!.Id)]));
    SiloProcess? victim = null;
    failoverResults["ActorCluster"] = await FailoverAsync("ActorCluster", async () =>
    {
        // The silo that hosts the leader of the probe key's shard.
        var shard = client.ShardOf("failover-probe");
        var status = await client.Cluster.GetGrain<IShardGrain>(shard).GetStatus();
        var leader = status.Replicas.Single(r => r.Replica == status.Leader);
        victim = cluster.Silos.Single(s => s.IsRunning && leader.Silo.Contains($":{s.SiloPort}:", StringComparison.Ordinal));
        cluster.Kill(victim);
        return victim.Index;
    }, Probe, async _ =>
    {
        cluster.Start(victim!);
        await cluster.WaitReadyAsync(victim!, TimeSpan.FromSeconds(90), CancellationToken.None);
        await ClusterUnderTest.WaitForLeadersAsync(client, TimeSpan.FromSeconds(120), CancellationToken.None);
    });
}

if (!arguments.Contains("--no-embedded"))
{
    // The embedded default as `dotnet run --project Silo` starts it: three silos in one process
    // on SQLite. No failover here: the silos share a process, so none can be killed alone.
    await using var embedded = await EmbeddedCluster.StartAsync();
    await using var client = await ActorClusterClient.ConnectAsync(EmbeddedCluster.ClientOptions);
    await ClusterUnderTest.WaitForLeadersAsync(client, TimeSpan.FromSeconds(120), CancellationToken.None);
    results.AddRange(await MeasureAsync("ActorCluster (SQLite, one process)", (k, v) => client.PutAsync(k, v), k => client.GetAsync(k), e => e is ActorClusterException, () => [embedded.ProcessId]));
}

Report(results, failoverResults, arguments.Contains("--json"));
return 0;

async Task<List<Result>> MeasureAsync(string system, Func<string, byte[], Task> put, Func<string, Task> get, Func<Exception, bool> isError, Func<IReadOnlyList<int>> servers)
{
    var measured = new List<Result>();
    var preload = new LoadSettings(64, duration, warmup, 10_000, 16, 256, 1.0);
    Console.Error.WriteLine($"{system}: writing 10,000 keys");
    await LoadGenerator.PreloadAsync(put, preload);
    foreach (var clients in clientCounts)
    {
        foreach (var (mix, fraction) in new[] { ("put", 1.0), ("get", 0.0) })
        {
            for (var rep = 1; rep <= repetitions; rep++)
            {
                // CPU from /proc around the whole run (warm-up included), per operation completed in it.
                var pids = servers();
                var serversBefore = ServerTicks(pids);
                var selfBefore = ProcessCpu.Ticks(Environment.ProcessId) ?? 0;
                var summary = await LoadGenerator.RunAsync(put, get, preload with { Clients = clients, WriteFraction = fraction }, isError, null);
                var serverTicks = ServerTicks(pids) - serversBefore;
                var selfTicks = (ProcessCpu.Ticks(Environment.ProcessId) ?? 0) - selfBefore;
                var done = Math.Max(1, summary.Ops + summary.WarmupOps);
                var serverUs = serverTicks * 1_000_000.0 / ProcessCpu.TicksPerSecond / done;
                var clientUs = selfTicks * 1_000_000.0 / ProcessCpu.TicksPerSecond / done;
                Console.Error.WriteLine($"{system} {mix} clients={clients} rep={rep}: {summary.OpsPerSecond:N0} ops/s p50 {summary.P50Ms:0.00} p99 {summary.P99Ms:0.00} p999 {summary.P999Ms:0.00} errors {summary.Errors}; CPU per op {serverUs:0} us servers, {clientUs:0} us load generator");
                measured.Add(new Result(system, mix, clients, rep, summary, serverUs, clientUs));
            }
        }
    }

    return measured;
}

static long ServerTicks(IReadOnlyList<int> pids) => pids.Sum(pid => ProcessCpu.Ticks(pid) ?? 0);

async Task<List<double>> FailoverAsync(string system, Func<Task<int>> killLeader, Func<string, CancellationToken, Task> write, Func<int, Task> recover)
{
    var times = new List<double>();
    for (var i = 0; i < failovers; i++)
    {
        // Before the kill the system must take writes (it may still be settling after the last recovery).
        await FailoverProbe.UntilSuccessAsync(token => write("failover-probe", token), ProbeAttempt, TimeSpan.FromSeconds(120));
        var killed = await killLeader();
        // Each attempt has a short deadline of its own: an attempt stuck on the dead member must
        // not hide a leader that is already serving. A failed or cancelled attempt is just that.
        var took = await FailoverProbe.UntilSuccessAsync(token => write("failover-probe", token), ProbeAttempt, TimeSpan.FromSeconds(120));
        times.Add(took.TotalMilliseconds);
        Console.Error.WriteLine($"{system} failover {i + 1}: killed member {killed}, first write after {took.TotalMilliseconds:0} ms");
        await recover(killed);
    }

    return times;
}

static void Report(List<Result> results, Dictionary<string, List<double>> failovers, bool json)
{
    var rows = results
        .GroupBy(r => (r.Mix, r.Clients, r.System))
        .Select(g => new Row(g.Key.System, g.Key.Mix, g.Key.Clients,
            Median(g.Select(r => r.Summary.OpsPerSecond)), Median(g.Select(r => r.Summary.P50Ms)), Median(g.Select(r => r.Summary.P99Ms)), Median(g.Select(r => r.Summary.P999Ms)),
            Median(g.Select(r => r.ServerCpuUsPerOp)), Median(g.Select(r => r.ClientCpuUsPerOp)),
            g.Select(r => r.Summary.OpsPerSecond).ToArray()))
        .ToList();
    if (json)
    {
        Console.WriteLine(JsonSerializer.Serialize(new { rows, failovers }, new JsonSerializerOptions { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower }));
        return;
    }

    var text = new StringBuilder();
    text.AppendLine("| system | operation | clients | ops/s | p50 ms | p99 ms | p999 ms | ops/s vs etcd | CPU us/op: servers + load generator | runs (ops/s) |");
    text.AppendLine("|---|---|---:|---:|---:|---:|---:|---:|---:|---|");
    foreach (var row in rows.OrderBy(r => r.Mix).ThenBy(r => r.Clients).ThenBy(r => r.System == "etcd" ? 0 : 1))
    {
        var etcdRow = rows.FirstOrDefault(r => r.System == "etcd" && r.Mix == row.Mix && r.Clients == row.Clients);
        var ratio = etcdRow is null ? "-" : (row.OpsPerSecond / etcdRow.OpsPerSecond).ToString("0.00", CultureInfo.InvariantCulture);
        text.AppendLine(CultureInfo.InvariantCulture, $"| {row.System} | {row.Mix} | {row.Clients} | {row.OpsPerSecond:N0} | {row.P50Ms:0.0} | {row.P99Ms:0.0} | {row.P999Ms:0.0} | {ratio} | {row.ServerCpuUsPerOp:0} + {row.ClientCpuUsPerOp:0} | {string.Join(" / ", row.Runs.Select(r => r.ToString("N0", CultureInfo.InvariantCulture)))} |");
    }

    // --failovers 0 measures none: no table then.
    var measuredFailovers = failovers.Where(f => f.Value.Count > 0).ToList();
    if (measuredFailovers.Count > 0)
    {
        text.AppendLine();
        text.AppendLine("| failover (kill -9 the leader) | median ms | worst ms | all ms |");
        text.AppendLine("|---|---:|---:|---|");
    }

    foreach (var (system, times) in measuredFailovers)
    {
        text.AppendLine(CultureInfo.InvariantCulture, $"| {system} | {Median(times):0} | {times.Max():0} | {string.Join(", ", times.Select(t => t.ToString("0", CultureInfo.InvariantCulture)))} |");
    }

    Console.WriteLine(text);
}

static double Median(IEnumerable<double> values)
{
    var sorted = values.Order().ToArray();
    return sorted.Length == 0 ? 0 : sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[(sorted.Length / 2) - 1] + sorted[sorted.Length / 2]) / 2;
}

/// <summary>One run; CPU in microseconds per completed operation, from /proc (servers: etcd's members or the silo processes; load generator: this process).</summary>
internal sealed record Result(string System, string Mix, int Clients, int Repetition, LoadSummary Summary, double ServerCpuUsPerOp, double ClientCpuUsPerOp);

internal sealed record Row(string System, string Mix, int Clients, double OpsPerSecond, double P50Ms, double P99Ms, double P999Ms, double ServerCpuUsPerOp, double ClientCpuUsPerOp, double[] Runs);

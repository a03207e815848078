using System.Text;

namespace ActorCluster.Cli.Chaos;

/// <summary>
/// The outcome of a chaos run. Valid only if the history is linearizable, no acknowledged append
/// is lost or doubled, every fault was confirmed applied and undone (<see cref="FaultProblems"/>
/// is empty), and after healing every shard has a leader and R voters on distinct live silos.
/// </summary>
public sealed record ChaosVerdict(
    bool Valid,
    bool Conclusive,
    double DurationSeconds,
    string Nemeses,
    IReadOnlyList<FaultRecord> Faults,
    IReadOnlyList<string> FaultProblems,
    int Operations,
    int Acknowledged,
    int Indeterminate,
    int RegisterKeys,
    IReadOnlyList<KeyResult> NotLinearizable,
    IReadOnlyList<string> Inconclusive,
    AppendResult Appends,
    string HistoryPath,
    string? Error);

/// <summary>
/// Starts a multi-process cluster, runs both workloads while the nemesis injects faults, heals
/// everything, reads the final values, writes the history and checks it.
/// </summary>
public static class ChaosRunner
{
    public static async Task<ChaosVerdict> RunAsync(ChaosOptions options, TextWriter log, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(log);
        Directory.CreateDirectory(options.OutputDirectory);
        var history = new HistoryRecorder();
        var historyPath = Path.Combine(options.OutputDirectory, "history.jsonl");
        var started = DateTime.UtcNow;
        await using var cluster = await ClusterUnderTest.StartAsync(options, log, cancellationToken);
        // Clients find gateways in membership, as they would in a deployment: silos that replace
        // others come up on ports no static list could name.
        var clientOptions = new ActorClusterClientOptions
        {
            ClusterId = cluster.ClusterId,
            ServiceId = "actorcluster",
            TimeoutMilliseconds = (int)options.OperationTimeout.TotalMilliseconds,
            Retries = 2,
            ConfigureClustering = PostgresMembership.Clustering(cluster.MetadataConnectionString),
        };

        var clients = new List<ActorClusterClient>();
        try
        {
            for (var i = 0; i < options.RegisterClients + options.AppendClients + 1; i++)
            {
                clients.Add(await ActorClusterClient.ConnectAsync(clientOptions, cancellationToken));
            }

            var workload = new Workload(options, history);
            var nemesis = new Nemesis(options, cluster, () => clients[^1].Cluster, log);
            var deadline = new RunDeadline(DateTime.UtcNow + options.Duration);
            log.WriteLine($"{DateTime.UtcNow:HH:mm:ss.fff} chaos: {options.Duration.TotalSeconds:0}s, nemeses {options.Nemeses}, {options.Silos} silos, seed {options.Seed}");
            if (cluster.Clocks is not null)
            {
                log.WriteLine($"{DateTime.UtcNow:HH:mm:ss.fff} chaos: silo clocks faked by libfaketime; one silo at a time runs x{ClockFaults.FastRate} or x{ClockFaults.SlowRate}, so the drift bound is {ClockFaults.DriftBound} (the silos' Raft:MaxClockRateRatio, which sizes their leases)");
            }
            var workers = Enumerable.Range(0, options.RegisterClients)
                .Select(p => workload.RunRegisterClientAsync(clients[p], p, deadline, cancellationToken))
                .Concat(Enumerable.Range(0, options.AppendClients)
                    .Select(p => workload.RunAppendClientAsync(clients[options.RegisterClients + p], options.RegisterClients + p, deadline, cancellationToken)))
                .ToList();
            // Faults stop a little before the clients do, so the end of the run shows recovery.
            await nemesis.RunAsync(deadline, cancellationToken);
            await nemesis.HealAllAsync(cancellationToken);
            // A run held past its duration by MinimumSteps still ends with a fault interval of recovery.
            deadline.Release(DateTime.UtcNow + options.FaultInterval);
            await Task.WhenAll(workers);

            var problems = nemesis.Problems.ToList();
            if (!await nemesis.WaitForLeadersAsync(clients[^1], TimeSpan.FromSeconds(60), cancellationToken))
            {
                problems.Add("not every shard had a leader within 60 s of healing");
            }

            // The run ends with every shard whole again: R voters on distinct live silos and stores.
            foreach (var problem in await nemesis.SoundPlacementAsync(TimeSpan.FromSeconds(90), cancellationToken))
            {
                problems.Add($"final placement: {problem}");
            }

            var final = await FinalReadsAsync(workload, clients[^1], options, log, cancellationToken);
            await HistoryFile.WriteAsync(historyPath, history.Events);
            return Check(options, history.Events, final, nemesis.Faults, DateTime.UtcNow - started, historyPath) is var verdict && problems.Count > 0
                ? verdict with { Valid = false, FaultProblems = problems }
                : verdict;
        }
        finally
        {
            foreach (var client in clients)
            {
                await client.DisposeAsync();
            }
        }
    }

    /// <summary>Checks a recorded history (also usable on a history file from elsewhere).</summary>
    public static ChaosVerdict Check(ChaosOptions options, IReadOnlyList<HistoryEvent> events, IReadOnlyDictionary<string, string?>? finalAppendValues, IReadOnlyList<FaultRecord> faults, TimeSpan elapsed, string historyPath)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(events);
        var registerOps = Operation.FromHistory(events.Where(e => e.Function is "read" or "write" or "cas" && e.Key.StartsWith("reg-", StringComparison.Ordinal)));
        var results = LinearizabilityChecker.Check(registerOps, options.CheckerBudgetPerKey);
        var appends = finalAppendValues is null
            ? new AppendResult(0, 0, [], [], [])
            : AppendChecker.Check(events, finalAppendValues);
        var notLinearizable = results.Where(r => r.Verdict == Verdict.NotLinearizable).ToList();
        var inconclusive = results.Where(r => r.Verdict == Verdict.Unknown).Select(r => $"{r.Key}: {r.Explanation}").ToList();
        if (finalAppendValues is null)
        {
            inconclusive.Add("the final values of the append keys could not be read");
        }

        var completions = events.Where(e => e.Type != EventType.Invoke).ToList();
        return new ChaosVerdict(
            Valid: notLinearizable.Count == 0 && appends.Valid,
            Conclusive: inconclusive.Count == 0,
            DurationSeconds: elapsed.TotalSeconds,
            Nemeses: options.Nemeses.ToString(),
            Faults: faults,
            FaultProblems: [],
            Operations: completions.Count,
            Acknowledged: completions.Count(e => e.Type == EventType.Ok),
            Indeterminate: completions.Count(e => e.Type == EventType.Info),
            RegisterKeys: results.Count,
            NotLinearizable: notLinearizable,
            Inconclusive: inconclusive,
            Appends: appends,
            HistoryPath: historyPath,
            Error: null);
    }

    /// <summary>After healing (and every shard leading again): read every key (recorded).</summary>
    private static async Task<IReadOnlyDictionary<string, string?>?> FinalReadsAsync(Workload workload, ActorClusterClient client, ChaosOptions options, TextWriter log, CancellationToken cancellationToken)
    {
        for (var i = 0; i < options.RegisterKeys; i++)
        {
            await workload.ReadAsync(client, Workload.FinalReader, Workload.RegisterKey(i));
        }

        var values = new Dictionary<string, string?>();
        for (var i = 0; i < options.AppendKeys; i++)
        {
            var key = Workload.AppendKey(i);
            KvEntry? entry = null;
            var read = false;
            for (var attempt = 0; attempt < 10 && !read; attempt++)
            {
                try
                {
                    entry = await client.GetAsync(key, cancellationToken: cancellationToken);
                    read = true;
                }
                catch (ActorClusterException e)
                {
                    log.WriteLine($"{DateTime.UtcNow:HH:mm:ss.fff} chaos: final read of {key} failed: {e.Message}");
                }
            }

            if (!read)
            {
                return null;
            }

            values[key] = entry is { } found ? Encoding.UTF8.GetString(found.Value) : null;
        }

        return values;
    }
}

using System.Globalization;
using System.Text.Json;
using ActorCluster.Cli.Chaos;

namespace ActorCluster.Cli;

/// <summary>The chaos command: a fault test with a linearizability verdict.</summary>
internal static class ChaosCommand
{
    public static async Task<int> RunAsync(CommandLine line, bool checkOnly = false)
    {
        var options = new ChaosOptions
        {
            Duration = line.Duration("--duration", TimeSpan.FromSeconds(60)),
            MinimumSteps = line.Int("--steps", 0, 0, 1_000),
            Nemeses = line.Value("--nemesis") is { } nemesis ? ParseNemeses(nemesis) : Nemeses.Kill | Nemeses.Pause | Nemeses.Partition,
            OutputDirectory = line.Value("--out") ?? Path.Combine(Path.GetTempPath(), "actorcluster-chaos", DateTime.UtcNow.ToString("yyyyMMdd-HHmmss", CultureInfo.InvariantCulture)),
            Seed = line.Int("--seed", Environment.TickCount & int.MaxValue, 0, int.MaxValue),
            Silos = line.Int("--silos", 3, 3, 9),
            StaleReads = line.Has("--stale-reads"),
        };
        if (line.Value("--postgres") is { } postgres)
        {
            options = options with { PostgresConnectionString = postgres };
        }

        if (options.Duration < options.FaultInterval * 2)
        {
            throw new UsageException($"--duration must be at least {(options.FaultInterval * 2).TotalSeconds:0}s");
        }

        if (checkOnly)
        {
            return ExitCodes.Ok;
        }

        var json = line.Has("--json");
        var log = json ? Console.Error : Console.Out;
        ChaosVerdict verdict;
        try
        {
            verdict = await ChaosRunner.RunAsync(options, log);
        }
        catch (Exception e) when (e is InvalidOperationException or TimeoutException or Npgsql.NpgsqlException or ActorClusterException)
        {
            Console.Error.WriteLine($"chaos: could not run: {e.Message}");
            return ExitCodes.Unavailable;
        }

        if (json)
        {
            Console.WriteLine(JsonSerializer.Serialize(verdict, Commands.JsonOptions));
        }
        else
        {
            Print(verdict);
        }

        return !verdict.Valid ? ExitCodes.NotDone : verdict.Conclusive ? ExitCodes.Ok : ExitCodes.Inconclusive;
    }

    private static Nemeses ParseNemeses(string text)
    {
        try
        {
            return ChaosOptions.ParseNemeses(text);
        }
        catch (ArgumentException e)
        {
            throw new UsageException($"--nemesis: {e.Message}");
        }
    }

    private static void Print(ChaosVerdict v)
    {
        Console.WriteLine();
        Console.WriteLine($"chaos: {v.DurationSeconds:0}s, nemeses {v.Nemeses}, {v.Faults.Count} faults " +
            $"({string.Join(", ", v.Faults.GroupBy(f => f.Kind).Select(g => $"{g.Count()} {g.Key.ToString().ToLowerInvariant()}"))})");
        foreach (var problem in v.FaultProblems)
        {
            Console.WriteLine($"  FAULT PROBLEM: {problem}");
        }

        Console.WriteLine($"operations: {v.Operations:N0} ({v.Acknowledged:N0} ok, {v.Indeterminate:N0} unknown outcome)");
        Console.WriteLine($"registers: {v.RegisterKeys} keys, {v.NotLinearizable.Count} not linearizable, {v.Inconclusive.Count} inconclusive");
        foreach (var key in v.NotLinearizable)
        {
            Console.WriteLine($"  NOT LINEARIZABLE {key.Key}: {key.Explanation}");
        }

        foreach (var note in v.Inconclusive)
        {
            Console.WriteLine($"  inconclusive: {note}");
        }

        Console.WriteLine($"appends: {v.Appends.Acknowledged:N0} acknowledged, {v.Appends.Indeterminate:N0} unknown; " +
            $"lost {v.Appends.Lost.Count}, duplicated {v.Appends.Duplicated.Count}, unexpected {v.Appends.Unexpected.Count}");
        foreach (var problem in v.Appends.Lost.Select(l => $"lost {l}").Concat(v.Appends.Duplicated.Select(d => $"duplicated {d}")).Concat(v.Appends.Unexpected.Select(u => $"unexpected {u}")).Take(20))
        {
            Console.WriteLine($"  {problem}");
        }

        Console.WriteLine($"history: {v.HistoryPath}");
        Console.WriteLine(v.Valid ? (v.Conclusive ? "VALID" : "NO VIOLATION FOUND (inconclusive)") : "INVALID");
    }
}

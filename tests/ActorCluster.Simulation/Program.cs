using System.Globalization;
using ActorCluster.Grains.Raft;
using ActorCluster.Simulation;

// Usage:
//   --seeds N [--start S]     run N mixed-scenario seeds (default 1000, from seed 1)
//   --seed S [--trace]        replay one seed, printing its trace
//   --break vote|commit       run a deliberately broken core
//   --disk-loss               members also lose their disks (and are replaced under new ids)
//   --break amnesia           ...and one that lost its disk starts again as if new (the amnesia bug)
//   --leases                  leaders answer reads under leases; lease clocks drift by up to 10%
//   --break lease             ...and a lease, once held, never expires
//   --quiesce                 idle groups quiesce (leases on even seeds); suspected leaders wake followers
//   --lease-stretch-percent P ...and leases P% of the safe size (above 100: longer than the stickiness)
//   bench [--seconds N]       throughput of the pure core (3 nodes, in memory, one thread)
var arguments = args.ToList();
if (ArgumentProblem(arguments) is { } problem)
{
    Console.Error.WriteLine($"usage: {problem}; see the comment at the top of tests/ActorCluster.Simulation/Program.cs");
    return 2;
}

if (Environment.GetEnvironmentVariable("ACTORCLUSTER_CHECK_ARGS") == "1")
{
    // The arguments are valid; run nothing (how the README's commands are checked).
    return 0;
}

if (arguments.Count > 0 && arguments[0] == "bench")
{
    var seconds = Option(arguments, "--seconds", 10);
    return CoreBenchmark.Run(seconds, Console.Out);
}

if (arguments.Contains("--seed"))
{
    var seed = (ulong)Option(arguments, "--seed", 1L);
    var options = Scenario(arguments, seed) with { RecordTrace = arguments.Contains("--trace") };
    var result = new Simulation(options).Run();
    foreach (var line in result.Trace)
    {
        Console.WriteLine(line);
    }

    Console.WriteLine(options);
    Console.WriteLine($"events={result.Events} traceHash={result.TraceHash:x16} {result.Stats}");
    foreach (var violation in result.Violations)
    {
        Console.WriteLine($"VIOLATION {violation}");
    }

    return result.Passed ? 0 : 1;
}

var count = (int)Option(arguments, "--seeds", 1000L);
var start = (ulong)Option(arguments, "--start", 1L);
var watch = System.Diagnostics.Stopwatch.StartNew();
var summary = SeedRunner.Run(start, count, seed => Scenario(arguments, seed));
Console.WriteLine($"seeds run: {summary.Seeds} (from {start})");
Console.WriteLine($"events: {summary.Events}");
Console.WriteLine($"violations: {summary.Failures.Sum(f => f.Violations.Count)} in {summary.Failures.Count} seeds");
Console.WriteLine($"exercised: {summary.Stats}");
Console.WriteLine($"elapsed: {watch.Elapsed.TotalSeconds:0.0}s");
foreach (var failure in summary.Failures.Take(20))
{
    Console.WriteLine($"FAILED seed {failure.Options.Seed}: {failure.Violations[0]}");
    Console.WriteLine($"  replay: {failure.ReplayCommand}");
}

return summary.Failures.Count == 0 ? 0 : 1;

static long Option(List<string> arguments, string name, long fallback)
{
    var at = arguments.IndexOf(name);
    return at >= 0 && at + 1 < arguments.Count ? long.Parse(arguments[at + 1], CultureInfo.InvariantCulture) : fallback;
}

// --break vote|commit|lease runs a deliberately broken core, --break amnesia a broken restart rule,
// to see that the simulator catches them; --leases runs the lease scenario.
static SimulationOptions Scenario(List<string> arguments, ulong seed)
{
    var at = arguments.IndexOf("--break");
    var broken = at >= 0 && at + 1 < arguments.Count ? arguments[at + 1] : null;
    var options = arguments.Contains("--disk-loss") || broken == "amnesia"
        ? SimulationOptions.WithDiskLoss(seed, amnesiaRestarts: broken == "amnesia")
        : arguments.Contains("--quiesce") ? SimulationOptions.WithQuiescence(seed)
        : arguments.Contains("--leases") || broken == "lease" ? SimulationOptions.WithLeases(seed)
        : SimulationOptions.Mixed(seed);
    return options with
    {
        LeaseStretch = Option(arguments, "--lease-stretch-percent", 100) / 100.0,
        Knobs = broken switch
        {
            "vote" => RaftTestingKnobs.GrantVoteWithoutLogCheck,
            "commit" => RaftTestingKnobs.CommitPriorTermByCounting,
            "lease" => RaftTestingKnobs.LeaseNeverExpires,
            _ => RaftTestingKnobs.None,
        },
    };
}

static string? ArgumentProblem(List<string> arguments)
{
    string[] withValue = ["--seeds", "--start", "--seed", "--break", "--seconds", "--lease-stretch-percent"];
    for (var i = arguments.Count > 0 && arguments[0] == "bench" ? 1 : 0; i < arguments.Count; i++)
    {
        var argument = arguments[i];
        if (argument is "--trace" or "--disk-loss" or "--leases" or "--quiesce")
        {
            continue;
        }

        if (!withValue.Contains(argument))
        {
            return $"unknown argument '{argument}'";
        }

        if (i + 1 >= arguments.Count)
        {
            return $"{argument} needs a value";
        }

        var value = arguments[++i];
        if (argument == "--break" ? value is not ("vote" or "commit" or "amnesia" or "lease") : !long.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out _))
        {
            return $"{argument} does not take '{value}'";
        }
    }

    return null;
}

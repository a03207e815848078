namespace ActorCluster.Simulation;

/// <summary>Runs many seeds in parallel and sums what they did.</summary>
public static class SeedRunner
{
    public sealed record Summary(int Seeds, long Events, IReadOnlyList<SimulationResult> Failures, SimulationStats Stats);

    public static Summary Run(ulong firstSeed, int count, Func<ulong, SimulationOptions> scenario, int maxParallelism = 0)
    {
        var failures = new List<SimulationResult>();
        var stats = new SimulationStats();
        long events = 0;
        var parallel = new ParallelOptions { MaxDegreeOfParallelism = maxParallelism > 0 ? maxParallelism : Environment.ProcessorCount };
        Parallel.For(0, count, parallel, () => (Events: 0L, Stats: new SimulationStats(), Failures: new List<SimulationResult>()), (i, _, local) =>
        {
            var result = new Simulation(scenario(firstSeed + (ulong)i)).Run();
            local.Events += result.Events;
            local.Stats.Add(result.Stats);
            if (!result.Passed)
            {
                local.Failures.Add(result);
            }

            return local;
        }, local =>
        {
            lock (failures)
            {
                events += local.Events;
                stats.Add(local.Stats);
                failures.AddRange(local.Failures);
            }
        });
        failures.Sort((a, b) => a.Options.Seed.CompareTo(b.Options.Seed));
        return new Summary(count, events, failures, stats);
    }
}

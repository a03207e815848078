namespace ActorCluster.Simulation;

/// <summary>Placeholder replaced below.</summary>
public static class CoreBenchmark
{
    public static int Run(long seconds, TextWriter output)
    {
        output.WriteLine(seconds);
        return 0;
    }
}

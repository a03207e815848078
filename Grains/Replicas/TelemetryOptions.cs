namespace ActorCluster.Grains.Replicas;

/// <summary>What the replicas' metrics carry (configuration section <c>ActorCluster:Telemetry</c>).</summary>
public sealed class TelemetryOptions
{
    public const string Section = "ActorCluster:Telemetry";

    /// <summary>
    /// The largest ring whose metrics carry a <c>shard</c> tag. Every tagged instrument has one time
    /// series per shard, which a metrics backend stores and bills for: a ring of more shards than
    /// this reports per silo only (the Raft view still shows every shard). 0 never tags by shard.
    /// </summary>
    public int ShardMetricsUpTo { get; set; } = 64;

    public void Validate()
    {
        if (ShardMetricsUpTo < 0)
        {
            throw new ArgumentException($"{Section}:{nameof(ShardMetricsUpTo)} must be 0 or more (it is {ShardMetricsUpTo}).");
        }
    }

    /// <summary>Whether the metrics of a ring of <paramref name="shards"/> shards are tagged by shard.</summary>
    public bool TagsShards(int shards) => shards <= ShardMetricsUpTo;
}

namespace ActorCluster.Grains.Replicas;

/// <summary>
/// Limits of every shard's key-value state (configuration section <c>ActorCluster:KeyValue</c>).
/// A leader stamps them on each command it proposes, so all replicas apply the same limits even
/// while silos disagree (during a rolling configuration change, say).
/// </summary>
public sealed class KeyValueOptions
{
    public const string Section = "ActorCluster:KeyValue";

    /// <summary>Largest allowed quota: a shard's snapshot is one array in memory.</summary>
    public const long MaxQuotaBytes = 1L << 30;

    /// <summary>
    /// Most bytes of keys (UTF-8) and values one shard may hold (etcd's quota-backend-bytes, per
    /// shard). A write that would grow the shard past it is refused with NoSpace; deletes and
    /// writes that do not grow the shard still work.
    /// </summary>
    public long QuotaBytesPerShard { get; set; } = 256L << 20;

    /// <summary>How long (in the log's time) a client session may stay idle before it expires.</summary>
    public int SessionTtlSeconds { get; set; } = 3600;

    /// <summary>Throws <see cref="ArgumentException"/> naming the first invalid setting and its allowed range.</summary>
    public void Validate()
    {
        if (QuotaBytesPerShard < 1024 || QuotaBytesPerShard > MaxQuotaBytes)
        {
            throw new ArgumentException($"{Section}:QuotaBytesPerShard must be between 1024 and {MaxQuotaBytes} (was {QuotaBytesPerShard}).");
        }

        if (SessionTtlSeconds is < 1 or > 30 * 86_400)
        {
            throw new ArgumentException($"{Section}:SessionTtlSeconds must be between 1 and {30 * 86_400} (was {SessionTtlSeconds}).");
        }
    }
}

namespace ActorCluster.Grains.Storage;

/// <summary>Which database keeps replica state.</summary>
public enum StorageProvider
{
    /// <summary>Embedded SQLite files under <see cref="StorageOptions.DataDirectory"/>: nothing to install.</summary>
    Sqlite,

    /// <summary>PostgreSQL at <see cref="StorageOptions.ConnectionString"/>: for clusters of many processes.</summary>
    PostgreSql,
}

/// <summary>Storage settings (configuration section <c>ActorCluster:Storage</c>).</summary>
public sealed class StorageOptions
{
    public const string Section = "ActorCluster:Storage";

    public StorageProvider Provider { get; set; } = StorageProvider.Sqlite;

    /// <summary>Where SQLite files live (created if missing).</summary>
    public string DataDirectory { get; set; } = "data";

    /// <summary>The PostgreSQL connection string (Npgsql format).</summary>
    public string? ConnectionString { get; set; }

    /// <summary>Most replica writes committed in one transaction (group commit).</summary>
    public int MaxWritesPerBatch { get; set; } = 1024;

    /// <summary>Most payload bytes committed in one transaction (at least one write always goes).</summary>
    public int MaxBatchBytes { get; set; } = 16 << 20;

    /// <summary>Snapshots are stored in rows of at most this many bytes, each written in its own small step.</summary>
    public int SnapshotChunkBytes { get; set; } = 4 << 20;

    /// <summary>Concurrent writer connections (PostgreSQL only; SQLite always has one writer per file).</summary>
    public int PostgreSqlWriters { get; set; } = 4;

    /// <summary>
    /// Free space kept in reserve on the data directory's file system (SQLite only). While less is
    /// free, the store refuses writes with <see cref="StoreFullException"/> rather than running into
    /// a full disk in the middle of one, and takes them again as soon as space returns. 0 turns the
    /// check off.
    /// </summary>
    public long MinFreeBytes { get; set; } = 64L << 20;

    /// <summary>The SQLite file for replica state.</summary>
    public string SqlitePath => Path.Combine(DataDirectory, "replicas.db");

    /// <summary>The SQLite file for cluster metadata (the ring's record) of a one-process development cluster.</summary>
    public string MetadataPath => Path.Combine(DataDirectory, "cluster.db");

    /// <summary>Throws <see cref="ArgumentException"/> naming the first invalid setting.</summary>
    public void Validate()
    {
        if (Provider == StorageProvider.PostgreSql && string.IsNullOrWhiteSpace(ConnectionString))
        {
            throw new ArgumentException($"{Section}:ConnectionString is required when {Section}:Provider is PostgreSql.");
        }

        if (Provider == StorageProvider.Sqlite && string.IsNullOrWhiteSpace(DataDirectory))
        {
            throw new ArgumentException($"{Section}:DataDirectory must name a directory.");
        }

        if (MaxWritesPerBatch is < 1 or > 100_000)
        {
            throw new ArgumentException($"{Section}:MaxWritesPerBatch must be between 1 and 100000 (was {MaxWritesPerBatch}).");
        }

        if (MaxBatchBytes is < 4096 or > 1 << 30)
        {
            throw new ArgumentException($"{Section}:MaxBatchBytes must be between 4096 and {1 << 30} (was {MaxBatchBytes}).");
        }

        if (SnapshotChunkBytes is < 4096 or > 256 << 20)
        {
            throw new ArgumentException($"{Section}:SnapshotChunkBytes must be between 4096 and {256 << 20} (was {SnapshotChunkBytes}).");
        }

        if (MinFreeBytes < 0)
        {
            throw new ArgumentException($"{Section}:MinFreeBytes must be 0 (no reserve) or more (was {MinFreeBytes}).");
        }

        if (PostgreSqlWriters is < 1 or > 64)
        {
            throw new ArgumentException($"{Section}:PostgreSqlWriters must be between 1 and 64 (was {PostgreSqlWriters}).");
        }
    }
}

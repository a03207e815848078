namespace ActorCluster.Grains.Storage;

/// <summary>
/// Faults a fault test can inject into a replica store (registered only when fault injection is
/// on): writes of chosen replicas fail, writers stall before their next batch, or a writer dies.
/// Thread-safe.
/// </summary>
public sealed class StoreFaults
{
    private readonly Lock _lock = new();
    private Func<string, Exception?>? _failWrite;
    private Func<string, Exception?>? _failChunk;
    private TaskCompletionSource? _stall;
    private Exception? _killWriters;
    private int _stalledWriters;

    /// <summary>Writers waiting in a stall right now.</summary>
    public int StalledWriters => Volatile.Read(ref _stalledWriters);

    /// <summary>Writes of replicas for which <paramref name="error"/> returns an exception fail with it.</summary>
    public void FailWrites(Func<string, Exception?> error)
    {
        lock (_lock)
        {
            _failWrite = error;
        }
    }

    /// <summary>Stored snapshot chunks of replicas for which <paramref name="error"/> returns an exception fail with it.</summary>
    public void FailSnapshotChunks(Func<string, Exception?> error)
    {
        lock (_lock)
        {
            _failChunk = error;
        }
    }

    /// <summary>Writers wait before their next batch until <see cref="Resume"/> (a disk that hangs).</summary>
    public void Stall()
    {
        lock (_lock)
        {
            _stall ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        }
    }

    /// <summary>Lets stalled writers go on.</summary>
    public void Resume()
    {
        lock (_lock)
        {
            _stall?.TrySetResult();
            _stall = null;
        }
    }

    /// <summary>The writers' loops end with <paramref name="error"/> before their next batch, as an unexpected bug would end them.</summary>
    public void KillWriters(Exception error)
    {
        lock (_lock)
        {
            _killWriters = error;
        }
    }

    /// <summary>Stops failing writes and resumes stalled writers (a dead writer stays dead).</summary>
    public void Heal()
    {
        lock (_lock)
        {
            _failWrite = null;
            _failChunk = null;
            _killWriters = null;
        }

        Resume();
    }

    internal async Task BeforeBatchAsync()
    {
        while (true)
        {
            Task? stall;
            lock (_lock)
            {
                if (_killWriters is { } error)
                {
                    throw error;
                }

                stall = _stall?.Task;
            }

            if (stall is null)
            {
                return;
            }

            // Whatever was decided while the writer stalled (a kill, another stall) applies now.
            Interlocked.Increment(ref _stalledWriters);
            try
            {
                await stall.ConfigureAwait(false);
            }
            finally
            {
                Interlocked.Decrement(ref _stalledWriters);
            }
        }
    }

    internal void BeforeWrite(string replicaId, bool snapshotChunk = false)
    {
        Func<string, Exception?>? fail;
        lock (_lock)
        {
            fail = snapshotChunk ? _failChunk : _failWrite;
        }

        if (fail?.Invoke(replicaId) is { } error)
        {
            throw error;
        }
    }
}

/// <summary>
/// The replica store refused a write because its disk has less free space than the reserve
/// (<see cref="StorageOptions.MinFreeBytes"/>). Nothing of the write was stored; the store takes
/// writes again once space is freed. Serializable, so that a caller on another silo learns why.
/// </summary>
[GenerateSerializer, Alias("ac.StoreFullException")]
public sealed class StoreFullException : IOException
{
    public StoreFullException()
    {
    }

    public StoreFullException(string message)
        : base(message)
    {
    }

    public StoreFullException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}

/// <summary>The replica store can take no more writes: its writer stopped. Every pending and later write fails with it.</summary>
public sealed class ReplicaStoreUnavailableException : Exception
{
    public ReplicaStoreUnavailableException()
    {
    }

    public ReplicaStoreUnavailableException(string message)
        : base(message)
    {
    }

    public ReplicaStoreUnavailableException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}

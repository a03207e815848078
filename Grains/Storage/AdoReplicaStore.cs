using System.IO.Hashing;
using System.Text;
using System.Threading.Channels;
using ActorCluster.Grains.Raft;
using ActorCluster.Grains.Replicas;

namespace ActorCluster.Grains.Storage;

/// <summary>
/// Replica state over ADO.NET (SQLite or PostgreSQL), with group commit: each writer connection
/// takes every write queued while its previous transaction ran and commits them together, so
/// one fsync serves many replicas and shards. A replica always goes to the same writer, and a
/// batch touches replicas in id order, so writers never deadlock on each other's rows.
/// </summary>
/// <remarks>
/// <para>Failures stay small: when a batch fails, its writes are retried one transaction each, so
/// only a write that fails on its own fails. A writer that stops for any other reason fails every
/// write queued for it and every later one at once, instead of leaving them waiting.</para>
/// <para>Snapshots do not hold up anyone else: their chunks wait in a lane of their own, and a
/// writer adds at most one chunk to each batch of ordinary writes. The write that points at a
/// snapshot is queued only once all its chunks are stored.</para>
/// </remarks>
public sealed partial class AdoReplicaStore : IReplicaStore, IAsyncDisposable
{
    private readonly SqlDialect _dialect;
    private readonly DataDirectoryLock? _directoryLock;
    private readonly int _maxBatch;
    private readonly int _maxBatchBytes;
    private readonly int _snapshotChunkBytes;
    private readonly StoreFaults? _faults;
    private readonly Channel<PendingOperation>[] _queues;
    private readonly Channel<PendingOperation>[] _chunkQueues;
    private readonly Task[] _writers;
    private readonly string? _diskPath;
    private readonly long _minFreeBytes;
    private readonly Func<string, long> _freeBytes;
    private long _transactions;
    private long _sequence;
    private long _writesRefused;
    private long _writesFailed;
    private long _freeCheckedAt = long.MinValue / 2;
    private long _lastFree = long.MaxValue;
    private string? _lastWriteError;

    private AdoReplicaStore(SqlDialect dialect, DataDirectoryLock? directoryLock, int writers, StorageOptions options, StoreFaults? faults, Func<string, long>? freeBytes)
    {
        _dialect = dialect;
        _directoryLock = directoryLock;
        // The counters exist from the start, at zero: an alert on their increase sees the first refusal.
        ReplicaMetrics.StoreWritesRefused.Add(0);
        ReplicaMetrics.StoreWritesFailed.Add(0);
        // The reserve is about the silo's own disk: SQLite's directory (PostgreSQL minds its own).
        _diskPath = options.Provider == StorageProvider.Sqlite && options.MinFreeBytes > 0 ? Path.GetFullPath(options.DataDirectory) : null;
        _minFreeBytes = options.MinFreeBytes;
        _freeBytes = freeBytes ?? FreeBytesOf;
        _maxBatch = options.MaxWritesPerBatch;
        _maxBatchBytes = options.MaxBatchBytes;
        _snapshotChunkBytes = options.SnapshotChunkBytes;
        _faults = faults;
        _queues = new Channel<PendingOperation>[writers];
        _chunkQueues = new Channel<PendingOperation>[writers];
        _writers = new Task[writers];
        for (var i = 0; i < writers; i++)
        {
            var queue = _queues[i] = Channel.CreateUnbounded<PendingOperation>(new UnboundedChannelOptions { SingleReader = true });
            var chunks = _chunkQueues[i] = Channel.CreateUnbounded<PendingOperation>(new UnboundedChannelOptions { SingleReader = true });
            _writers[i] = Task.Run(() => WriteLoopAsync(queue, chunks));
        }
    }

    /// <summary>The database in use, for logs and status.</summary>
    public string Description => _dialect.Description;

    /// <summary>Transactions committed so far (each batch is one, unless it failed and was split).</summary>
    internal long Transactions => Interlocked.Read(ref _transactions);

    /// <summary>The fault hooks this store was opened with (fault tests only), or null.</summary>
    public StoreFaults? Faults => _faults;

    /// <summary>What the store's writers have done so far, for the silo's status endpoint and fault tests.</summary>
    public StoreWriteStatus WriteStatus()
    {
        // long.MaxValue: the file system could not say (see DiskFull).
        var free = Interlocked.Read(ref _lastFree);
        return new(
            Interlocked.Read(ref _transactions),
            Interlocked.Read(ref _writesRefused),
            Interlocked.Read(ref _writesFailed),
            Volatile.Read(ref _lastWriteError),
            _diskPath is null || free == long.MaxValue ? null : free,
            _diskPath is null ? 0 : _minFreeBytes,
            _faults?.StalledWriters ?? 0);
    }

    /// <summary>Opens the store, creating or upgrading its schema.</summary>
    public static Task<AdoReplicaStore> OpenAsync(StorageOptions options, CancellationToken cancellationToken = default) =>
        OpenAsync(options, faults: null, cancellationToken);

    /// <summary>Opens the store with fault injection (for fault tests only).</summary>
    public static Task<AdoReplicaStore> OpenAsync(StorageOptions options, StoreFaults? faults, CancellationToken cancellationToken = default) =>
        OpenAsync(options, faults, freeBytes: null, cancellationToken);

    /// <summary>Opens the store; <paramref name="freeBytes"/> stands in for the file system's free space of a directory (tests).</summary>
    internal static async Task<AdoReplicaStore> OpenAsync(StorageOptions options, StoreFaults? faults, Func<string, long>? freeBytes, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        // A silo's own data directory is held for as long as its store is open (see DataDirectoryLock).
        var directoryLock = options.Provider == StorageProvider.Sqlite ? DataDirectoryLock.Acquire(options.DataDirectory) : null;
        SqlDialect dialect = options.Provider == StorageProvider.Sqlite
            ? new SqliteDialect(options.SqlitePath)
            : new PostgresDialect(options.ConnectionString!);
        try
        {
            await dialect.MigrateAsync(cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            await dialect.DisposeAsync().ConfigureAwait(false);
            directoryLock?.Dispose();
            throw;
        }

        var writers = options.Provider == StorageProvider.Sqlite ? 1 : options.PostgreSqlWriters;
        return new AdoReplicaStore(dialect, directoryLock, writers, options, faults, freeBytes);
    }

    /// <summary>
    /// Creates or upgrades the schema of the database the silos share for cluster metadata (Orleans
    /// membership on PostgreSQL, the ring's record): <see cref="StorageOptions.MetadataPath"/> for
    /// SQLite, the connection string for PostgreSQL.
    /// </summary>
    public static Task PrepareMetadataAsync(StorageOptions metadata, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(metadata);
        metadata.Validate();
        SqlDialect dialect = metadata.Provider == StorageProvider.Sqlite
            ? new SqliteDialect(metadata.MetadataPath)
            : new PostgresDialect(metadata.ConnectionString!);
        return dialect.MigrateAsync(cancellationToken);
    }

    /// <inheritdoc />
    public Task<ReplicaClaim> ClaimAsync(string replicaId, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(replicaId);
        var operation = new ClaimOperation(replicaId);
        Enqueue(operation);
        return operation.Completion.Task.WaitAsync(cancellationToken);
    }

    /// <inheritdoc />
    public async Task SaveAsync(ReplicaClaim claim, ReplicaWrite write, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(claim);
        ArgumentNullException.ThrowIfNull(write);
        var chunks = 0;
        if (write.Snapshot is { } snapshot)
        {
            // The data goes first, a bounded chunk per step, in the chunk lane; the write that points
            // at it comes only once every chunk is stored, and checks that they all are.
            chunks = ChunkCount(snapshot.Data.LongLength);
            var stored = new Task[chunks];
            for (var i = 0; i < chunks; i++)
            {
                var offset = (long)i * _snapshotChunkBytes;
                var chunk = new SnapshotChunkOperation(claim, snapshot.Index, i, snapshot.Data.AsMemory((int)offset, (int)Math.Min(_snapshotChunkBytes, snapshot.Data.LongLength - offset)));
                Enqueue(chunk, _chunkQueues);
                stored[i] = chunk.Completion.Task;
            }

            await Task.WhenAll(stored).WaitAsync(cancellationToken).ConfigureAwait(false);
        }

        var operation = new WriteOperation(claim, write, chunks);
        Enqueue(operation);
        await operation.Completion.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Persists several replicas' writes in one transaction: all of them or none. Used by tests to
    /// show that a batch is atomic, and by drivers that write several replicas together.
    /// </summary>
    internal Task SaveAllAsync(IReadOnlyList<(ReplicaClaim Claim, ReplicaWrite Write)> writes)
    {
        ArgumentNullException.ThrowIfNull(writes);
        if (writes.Any(w => w.Write.Snapshot is not null))
        {
            throw new ArgumentException("Snapshots are written with SaveAsync, in chunks.", nameof(writes));
        }

        var operation = new CompositeOperation([.. writes.Select(w => new WriteOperation(w.Claim, w.Write, 0))]);
        Enqueue(operation);
        return operation.Completion.Task;
    }

    /// <inheritdoc />
    public async Task<RaftStorageState> LoadAsync(ReplicaClaim claim, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(claim);
        var connection = await _dialect.OpenAsync(cancellationToken).ConfigureAwait(false);
        await using (connection.ConfigureAwait(false))
        {
            return await ReadReplicaAsync(connection, claim, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Reads the store's identity, drawing a new store id if the store has none yet. A store that
    /// belongs to another cluster is refused (<see cref="StoreIdentityException"/>): a data
    /// directory mounted into the wrong cluster must not mix its replicas in.
    /// </summary>
    /// <remarks>
    /// Silos that start together on one new database race to draw its id: the transaction is
    /// serializable, so one of them fails (PostgreSQL: a serialization failure) and tries again,
    /// reading the winner's id.
    /// </remarks>
    public async Task<StoreIdentity> IdentifyAsync(string clusterId, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(clusterId);
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                return await IdentifyOnceAsync(clusterId, cancellationToken).ConfigureAwait(false);
            }
            catch (System.Data.Common.DbException) when (attempt < 5)
            {
                await Task.Delay(TimeSpan.FromMilliseconds(20 * attempt), cancellationToken).ConfigureAwait(false);
            }
        }
    }

    private async Task<StoreIdentity> IdentifyOnceAsync(string clusterId, CancellationToken cancellationToken)
    {
        var connection = await _dialect.OpenAsync(cancellationToken).ConfigureAwait(false);
        await using (connection.ConfigureAwait(false))
        {
            var transaction = await connection.BeginTransactionAsync(System.Data.IsolationLevel.Serializable, cancellationToken).ConfigureAwait(false);
            await using (transaction.ConfigureAwait(false))
            {
                await using (var read = SqlDialect.Command(connection, transaction, "SELECT cluster_id, store_id FROM ac_store_ident"))
                {
                    await using var reader = await read.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
                    if (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
                    {
                        var stored = new StoreIdentity(reader.GetString(0), unchecked((ulong)reader.GetInt64(1)), IsNew: false);
                        if (stored.ClusterId != clusterId)
                        {
                            throw new StoreIdentityException(
                                $"{Description} is store {stored.StoreHex} of cluster '{stored.ClusterId}', not of cluster '{clusterId}'. Give this silo its own data directory.");
                        }

                        return stored;
                    }
                }

                ulong storeId;
                do
                {
                    storeId = (ulong)Random.Shared.NextInt64(long.MinValue, long.MaxValue);
                }
                while (storeId == 0);

                await using (var insert = SqlDialect.Command(connection, transaction, "INSERT INTO ac_store_ident (cluster_id, store_id, created_at) VALUES (@cluster, @store, @at)"))
                {
                    insert.Add("cluster", clusterId);
                    insert.Add("store", unchecked((long)storeId));
                    insert.Add("at", DateTime.UtcNow.ToString("O", System.Globalization.CultureInfo.InvariantCulture));
                    await insert.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
                }

                await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
                return new StoreIdentity(clusterId, storeId, IsNew: true);
            }
        }
    }

    /// <summary>Why the store cannot write any more (a writer stopped), or null while it can.</summary>
    public Exception? Fault { get; private set; }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        foreach (var queue in _queues.Concat(_chunkQueues))
        {
            queue.Writer.TryComplete();
        }

        await Task.WhenAll(_writers).ConfigureAwait(false);
        await _dialect.DisposeAsync().ConfigureAwait(false);
        _directoryLock?.Dispose();
    }

    private int ChunkCount(long bytes) => (int)Math.Max(1, (bytes + _snapshotChunkBytes - 1) / _snapshotChunkBytes);

    private void Enqueue(PendingOperation operation, Channel<PendingOperation>[]? lane = null)
    {
        lane ??= _queues;
        operation.Sequence = Interlocked.Increment(ref _sequence);
        var writer = (int)(XxHash32.HashToUInt32(Encoding.UTF8.GetBytes(operation.ReplicaId)) % (uint)lane.Length);
        if (!lane[writer].Writer.TryWrite(operation))
        {
            operation.Fail(Fault is { } dead
                ? new ReplicaStoreUnavailableException("The replica store's writer stopped.", dead)
                : new ObjectDisposedException(nameof(AdoReplicaStore)));
        }
    }

    private async Task WriteLoopAsync(Channel<PendingOperation> queue, Channel<PendingOperation> chunkQueue)
    {
        var reader = queue.Reader;
        var chunkReader = chunkQueue.Reader;
        WriterSession? session = null;
        var batch = new List<PendingOperation>(_maxBatch);
        try
        {
            while (await WaitForWorkAsync(reader, chunkReader).ConfigureAwait(false))
            {
                if (_faults is not null)
                {
                    await _faults.BeforeBatchAsync().ConfigureAwait(false);
                }

                long bytes = 0;
                while (batch.Count < _maxBatch && bytes < _maxBatchBytes && reader.TryRead(out var operation))
                {
                    batch.Add(operation);
                    bytes += operation.Bytes;
                }

                // One snapshot chunk per batch at most: a large snapshot trickles in behind the
                // ordinary writes instead of holding them up.
                if (bytes < _maxBatchBytes && chunkReader.TryRead(out var chunk))
                {
                    batch.Add(chunk);
                }

                if (DiskFull() is { } full)
                {
                    // Nothing of the replicas' writes in this batch is written, so nothing of them can
                    // be acknowledged; the replicas stop and come back, and the store takes writes
                    // again once space returns. What may use the reserve (the store's incarnation,
                    // without which the silo cannot start) still goes.
                    var refusedCount = 0;
                    foreach (var refused in batch)
                    {
                        if (!refused.MayUseReserve)
                        {
                            refused.Fail(full);
                            refusedCount++;
                        }
                    }

                    if (refusedCount > 0)
                    {
                        Interlocked.Add(ref _writesRefused, refusedCount);
                        Volatile.Write(ref _lastWriteError, full.Message);
                        ReplicaMetrics.StoreWritesRefused.Add(refusedCount);
                        batch.RemoveAll(static operation => !operation.MayUseReserve);
                        if (batch.Count == 0)
                        {
                            continue;
                        }
                    }
                }

                // Replica id order: every writer (in every process) takes row locks in one order.
                // One replica's writes keep the order they were queued in.
                batch.Sort(static (a, b) => string.CompareOrdinal(a.ReplicaId, b.ReplicaId) is var byId && byId != 0 ? byId : a.Sequence.CompareTo(b.Sequence));
                session = await WriteBatchAsync(session, batch).ConfigureAwait(false);
                batch.Clear();
            }
        }
        catch (Exception e)
        {
            // Nothing is expected to get here; if anything does, this writer is gone: fail what it
            // held and what waits for it, and make later writes fail at once. The store reports
            // itself faulty (the silo's health check says so).
            Fault = e;
            var dead = new ReplicaStoreUnavailableException($"The replica store's writer stopped: {e.Message}", e);
            queue.Writer.TryComplete(e);
            chunkQueue.Writer.TryComplete(e);
            foreach (var operation in batch)
            {
                operation.Fail(dead);
            }

            while (reader.TryRead(out var operation) || chunkReader.TryRead(out operation))
            {
                operation.Fail(dead);
            }
        }
        finally
        {
            if (session is not null)
            {
                await session.DisposeAsync().ConfigureAwait(false);
            }
        }
    }

    /// <summary>Waits until either lane has work; false once both are closed and empty.</summary>
    private static async Task<bool> WaitForWorkAsync(ChannelReader<PendingOperation> writes, ChannelReader<PendingOperation> chunks)
    {
        while (!writes.TryPeek(out _) && !chunks.TryPeek(out _))
        {
            var writesReady = writes.WaitToReadAsync().AsTask();
            var chunksReady = chunks.WaitToReadAsync().AsTask();
            var first = await Task.WhenAny(writesReady, chunksReady).ConfigureAwait(false);
            if (!await first.ConfigureAwait(false) && !await (first == writesReady ? chunksReady : writesReady).ConfigureAwait(false))
            {
                // Both lanes are closed and empty: the store is being disposed.
                return false;
            }
        }

        return true;
    }

    /// <summary>
    /// Commits a batch in one transaction. If that fails, each write is tried again in a transaction
    /// of its own, so that one bad write (or one replica's failing data) fails only itself.
    /// Returns the session to use next (a fresh one after a failure: the connection may be broken).
    /// </summary>
    private async Task<WriterSession?> WriteBatchAsync(WriterSession? session, List<PendingOperation> batch)
    {
        try
        {
            session ??= new WriterSession(await _dialect.OpenWriterAsync(CancellationToken.None).ConfigureAwait(false));
        }
        catch (Exception e) when (e is System.Data.Common.DbException or IOException or TimeoutException or InvalidOperationException or UnauthorizedAccessException)
        {
            // No connection: nothing can be written now. Fail the batch; the next one tries again.
            WriteFailed(e, batch.Count);
            foreach (var operation in batch)
            {
                operation.Fail(e);
            }

            return null;
        }

        try
        {
            var started = System.Diagnostics.Stopwatch.GetTimestamp();
            await CommitBatchAsync(session, batch).ConfigureAwait(false);
            ReplicaMetrics.StoreSyncLatency.Record(System.Diagnostics.Stopwatch.GetElapsedTime(started).TotalSeconds);
            return session;
        }
        catch (Exception e) when (batch.Count == 1)
        {
            WriteFailed(e, 1);
            batch[0].Fail(e);
            await session.DisposeAsync().ConfigureAwait(false);
            return null;
        }
        catch (Exception)
        {
            await session.DisposeAsync().ConfigureAwait(false);
            session = null;
        }

        foreach (var operation in batch)
        {
            session = await WriteBatchAsync(session, [operation]).ConfigureAwait(false);
        }

        return session;
    }

    private void WriteFailed(Exception error, int writes)
    {
        Interlocked.Add(ref _writesFailed, writes);
        Volatile.Write(ref _lastWriteError, error.Message);
        ReplicaMetrics.StoreWritesFailed.Add(writes);
    }

    /// <summary>
    /// The refusal to give the writes of a batch when the disk has less free space than the
    /// reserve, or null. The file system is asked at most every 100 ms.
    /// </summary>
    private StoreFullException? DiskFull()
    {
        if (_diskPath is null)
        {
            return null;
        }

        var now = Environment.TickCount64;
        if (now - Interlocked.Read(ref _freeCheckedAt) >= 100)
        {
            long free;
            try
            {
                free = _freeBytes(_diskPath);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException)
            {
                // Cannot tell: let the write itself find out (the status says "unknown", not a number).
                free = long.MaxValue;
            }

            Interlocked.Exchange(ref _lastFree, free);
            Interlocked.Exchange(ref _freeCheckedAt, now);
        }

        var last = Interlocked.Read(ref _lastFree);
        return last >= _minFreeBytes
            ? null
            : new StoreFullException($"The replica store's disk has {last:N0} bytes free, less than the {_minFreeBytes:N0} bytes kept in reserve ({StorageOptions.Section}:MinFreeBytes): writes are refused until space is freed.");
    }

    private static long FreeBytesOf(string directory) => new DriveInfo(directory).AvailableFreeSpace;

    private async Task CommitBatchAsync(WriterSession session, List<PendingOperation> batch)
    {
        var transaction = await session.Connection.BeginTransactionAsync().ConfigureAwait(false);
        await using (transaction.ConfigureAwait(false))
        {
            session.Transaction = transaction;
            foreach (var operation in batch)
            {
                await operation.ExecuteAsync(this, session).ConfigureAwait(false);
            }

            await transaction.CommitAsync().ConfigureAwait(false);
            session.Transaction = null;
        }

        Interlocked.Increment(ref _transactions);

        foreach (var operation in batch)
        {
            operation.Complete();
        }
    }
}

/// <summary>What a store's writers have done: committed transactions, writes refused for want of disk space, writes that failed, the last refusal or failure, the free space last seen (null when not watched), the reserve, and writers held in an injected stall.</summary>
public sealed record StoreWriteStatus(long Transactions, long WritesRefused, long WritesFailed, string? LastWriteError, long? FreeBytes, long MinFreeBytes, int StalledWriters);


using System.IO.Hashing;
using System.Text;
using System.Threading.Channels;
using ActorCluster.Grains.Raft;

namespace ActorCluster.Grains.Storage;

/// <summary>
/// Replica state over ADO.NET (SQLite or PostgreSQL), with group commit: each writer connection
/// takes every write queued while its previous transaction ran and commits them together, so
/// one fsync serves many replicas and shards. A replica always goes to the same writer, and a
/// batch touches replicas in id order, so writers never deadlock on each other's rows.
/// </summary>
public sealed partial class AdoReplicaStore : IReplicaStore, IAsyncDisposable
{
    private readonly SqlDialect _dialect;
    private readonly int _maxBatch;
    private readonly Channel<PendingOperation>[] _queues;
    private readonly Task[] _writers;

    private AdoReplicaStore(SqlDialect dialect, int writers, int maxBatch)
    {
        _dialect = dialect;
        _maxBatch = maxBatch;
        _queues = new Channel<PendingOperation>[writers];
        _writers = new Task[writers];
        for (var i = 0; i < writers; i++)
        {
            _queues[i] = Channel.CreateUnbounded<PendingOperation>(new UnboundedChannelOptions { SingleReader = true });
            var reader = _queues[i].Reader;
            _writers[i] = Task.Run(() => WriteLoopAsync(reader));
        }
    }

    /// <summary>The database in use, for logs and status.</summary>
    public string Description => _dialect.Description;

    /// <summary>Opens the store, creating or upgrading its schema.</summary>
    public static async Task<AdoReplicaStore> OpenAsync(StorageOptions options, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        SqlDialect dialect = options.Provider == StorageProvider.Sqlite
            ? new SqliteDialect(options.SqlitePath)
            : new PostgresDialect(options.ConnectionString!);
        await dialect.MigrateAsync(cancellationToken).ConfigureAwait(false);
        var writers = options.Provider == StorageProvider.Sqlite ? 1 : options.PostgreSqlWriters;
        return new AdoReplicaStore(dialect, writers, options.MaxWritesPerBatch);
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
    public Task SaveAsync(ReplicaClaim claim, ReplicaWrite write, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(claim);
        ArgumentNullException.ThrowIfNull(write);
        var operation = new WriteOperation(claim, write);
        Enqueue(operation);
        return operation.Completion.Task.WaitAsync(cancellationToken);
    }

    /// <summary>
    /// Persists several replicas' writes in one transaction: all of them or none. Used by tests to
    /// show that a batch is atomic, and by drivers that write several replicas together.
    /// </summary>
    internal Task SaveAllAsync(IReadOnlyList<(ReplicaClaim Claim, ReplicaWrite Write)> writes)
    {
        ArgumentNullException.ThrowIfNull(writes);
        var operation = new CompositeOperation([.. writes.Select(w => new WriteOperation(w.Claim, w.Write))]);
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

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        foreach (var queue in _queues)
        {
            queue.Writer.TryComplete();
        }

        await Task.WhenAll(_writers).ConfigureAwait(false);
    }

    private void Enqueue(PendingOperation operation)
    {
        var writer = (int)(XxHash32.HashToUInt32(Encoding.UTF8.GetBytes(operation.ReplicaId)) % (uint)_queues.Length);
        if (!_queues[writer].Writer.TryWrite(operation))
        {
            operation.Fail(new ObjectDisposedException(nameof(AdoReplicaStore)));
        }
    }

    private async Task WriteLoopAsync(ChannelReader<PendingOperation> reader)
    {
        WriterSession? session = null;
        var batch = new List<PendingOperation>(_maxBatch);
        try
        {
            while (await reader.WaitToReadAsync().ConfigureAwait(false))
            {
                while (batch.Count < _maxBatch && reader.TryRead(out var operation))
                {
                    batch.Add(operation);
                }

                // Replica id order: every writer (in every process) takes row locks in one order.
                batch.Sort(static (a, b) => string.CompareOrdinal(a.ReplicaId, b.ReplicaId));
                try
                {
                    session ??= new WriterSession(await _dialect.OpenWriterAsync(CancellationToken.None).ConfigureAwait(false));
                    await CommitBatchAsync(session, batch).ConfigureAwait(false);
                }
                catch (Exception e) when (e is System.Data.Common.DbException or InvalidOperationException or IOException or TimeoutException)
                {
                    foreach (var operation in batch)
                    {
                        operation.Fail(e);
                    }

                    // The connection may be broken; the next batch opens a fresh one.
                    if (session is not null)
                    {
                        await session.DisposeAsync().ConfigureAwait(false);
                        session = null;
                    }
                }

                batch.Clear();
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

        foreach (var operation in batch)
        {
            operation.Complete();
        }
    }
}

using System.Globalization;

namespace ActorCluster.Grains.Storage;

/// <summary>The store's incarnation (see <see cref="StoreIncarnation"/>) and the cluster's record of each store's.</summary>
public sealed partial class AdoReplicaStore
{
    /// <summary>The store's incarnation: 0 for a store that never recorded one.</summary>
    public async Task<long> ReadIncarnationAsync(CancellationToken cancellationToken = default)
    {
        var connection = await _dialect.OpenAsync(cancellationToken).ConfigureAwait(false);
        await using (connection.ConfigureAwait(false))
        {
            await using var command = SqlDialect.Command(connection, null, "SELECT MAX(incarnation) FROM ac_store_incarnation");
            var value = await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false);
            return value is null or DBNull ? 0 : Convert.ToInt64(value, CultureInfo.InvariantCulture);
        }
    }

    /// <summary>Raises the store's incarnation to <paramref name="incarnation"/> (never lowers it), durably, in the writer's order.</summary>
    public Task RaiseIncarnationAsync(long incarnation, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(incarnation);
        var operation = new IncarnationOperation(incarnation);
        Enqueue(operation);
        return operation.Completion.Task.WaitAsync(cancellationToken);
    }

    /// <summary>The newest incarnation the cluster recorded for <paramref name="storeId"/> in <paramref name="metadata"/>; null when none.</summary>
    public static async Task<long?> RecordedIncarnationAsync(StorageOptions metadata, ulong storeId, CancellationToken cancellationToken = default)
    {
        await using var dialect = MetadataDialect(metadata);
        var connection = await dialect.OpenAsync(cancellationToken).ConfigureAwait(false);
        await using (connection.ConfigureAwait(false))
        {
            await using var command = SqlDialect.Command(connection, null, "SELECT incarnation FROM ac_cluster_store WHERE store_id = @store");
            command.Add("store", unchecked((long)storeId));
            var value = await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false);
            return value is null or DBNull ? null : Convert.ToInt64(value, CultureInfo.InvariantCulture);
        }
    }

    /// <summary>Records in <paramref name="metadata"/> that <paramref name="storeId"/> reached <paramref name="incarnation"/> (a lower one changes nothing).</summary>
    public static async Task RecordIncarnationAsync(StorageOptions metadata, ulong storeId, long incarnation, CancellationToken cancellationToken = default)
    {
        await using var dialect = MetadataDialect(metadata);
        var connection = await dialect.OpenAsync(cancellationToken).ConfigureAwait(false);
        await using (connection.ConfigureAwait(false))
        {
            await using var command = SqlDialect.Command(
                connection,
                null,
                "INSERT INTO ac_cluster_store (store_id, incarnation, updated_at) VALUES (@store, @incarnation, @at) " +
                "ON CONFLICT (store_id) DO UPDATE SET incarnation = excluded.incarnation, updated_at = excluded.updated_at " +
                "WHERE ac_cluster_store.incarnation < excluded.incarnation");
            command.Add("store", unchecked((long)storeId));
            command.Add("incarnation", incarnation);
            command.Add("at", DateTime.UtcNow.ToString("O", CultureInfo.InvariantCulture));
            await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    private static SqlDialect MetadataDialect(StorageOptions metadata)
    {
        ArgumentNullException.ThrowIfNull(metadata);
        return metadata.Provider == StorageProvider.Sqlite
            ? new SqliteDialect(metadata.MetadataPath)
            : new PostgresDialect(metadata.ConnectionString!);
    }

    private sealed class IncarnationOperation(long incarnation) : PendingOperation(string.Empty)
    {
        public TaskCompletionSource Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        /// <summary>One row of one number: a silo whose disk is short of space still starts, and still renews it.</summary>
        public override bool MayUseReserve => true;

        public override async Task ExecuteAsync(AdoReplicaStore store, WriterSession session)
        {
            var insert = session.Command("INSERT INTO ac_store_incarnation (incarnation) SELECT @incarnation WHERE NOT EXISTS (SELECT 1 FROM ac_store_incarnation)");
            insert.Set("incarnation", incarnation);
            await insert.ExecuteNonQueryAsync().ConfigureAwait(false);
            var raise = session.Command("UPDATE ac_store_incarnation SET incarnation = @incarnation WHERE incarnation < @incarnation");
            raise.Set("incarnation", incarnation);
            await raise.ExecuteNonQueryAsync().ConfigureAwait(false);
        }

        public override void Complete() => Completion.TrySetResult();

        public override void Fail(Exception error) => Completion.TrySetException(error);
    }
}

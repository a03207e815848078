using System.Data.Common;
using ActorCluster.Grains.Raft;

namespace ActorCluster.Grains.Storage;

/// <summary>What differs between the databases: connections, schema, and bulk inserts.</summary>
internal abstract class SqlDialect : IAsyncDisposable
{
    public abstract string Description { get; }

    /// <summary>Closes the dialect's own connections (a pool of its own); nothing to do by default.</summary>
    public virtual ValueTask DisposeAsync() => ValueTask.CompletedTask;

    /// <summary>Opens a connection for reads.</summary>
    public abstract Task<DbConnection> OpenAsync(CancellationToken cancellationToken);

    /// <summary>Opens the long-lived connection of a writer.</summary>
    public virtual Task<DbConnection> OpenWriterAsync(CancellationToken cancellationToken) => OpenAsync(cancellationToken);

    /// <summary>Creates or upgrades the schema; safe to run concurrently and repeatedly.</summary>
    public abstract Task MigrateAsync(CancellationToken cancellationToken);

    /// <summary>Appends entries in one round trip where the database allows.</summary>
    public abstract Task InsertEntriesAsync(WriterSession session, string replicaId, Entry[] entries);

    /// <summary>A query that returns a row when the table named by parameter @name exists.</summary>
    protected abstract string TableExistsSql { get; }

    /// <summary>
    /// The replica data's format version. Version 2: commands with leader-stamped time, quota and
    /// session limits, sessions opened by a command, snapshots in chunks. Version 3: configurations
    /// name each member's store and the next replica id.
    /// </summary>
    public const int StoreFormat = 3;

    /// <summary>
    /// Refuses a database that holds replica data in an earlier format: the commands and snapshots
    /// in it cannot be read by this version, and starting anyway would lose them. Records the
    /// format in a new database. Runs inside the migration's transaction, before anything changes.
    /// </summary>
    protected async Task CheckFormatAsync(DbConnection connection, DbTransaction transaction, CancellationToken cancellationToken)
    {
        if (await ExistsAsync(connection, transaction, "ac_store_format", cancellationToken).ConfigureAwait(false))
        {
            await using var read = Command(connection, transaction, "SELECT MAX(format) FROM ac_store_format");
            var stored = await read.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false);
            var format = stored is null or DBNull ? 0 : Convert.ToInt32(stored, System.Globalization.CultureInfo.InvariantCulture);
            if (format != StoreFormat)
            {
                throw new StoreFormatException($"{Description} holds replica data in format {format}; this version reads format {StoreFormat} only. Start from an empty data directory or database.");
            }

            return;
        }

        if (await ExistsAsync(connection, transaction, "ac_replica", cancellationToken).ConfigureAwait(false))
        {
            await using var count = Command(connection, transaction, "SELECT COUNT(*) FROM ac_replica");
            if (Convert.ToInt64(await count.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false), System.Globalization.CultureInfo.InvariantCulture) > 0)
            {
                throw new StoreFormatException($"{Description} holds replica data written by an earlier version (format 1), which this version cannot read. Start from an empty data directory or database.");
            }
        }

        await ExecuteAsync(connection, transaction, "CREATE TABLE IF NOT EXISTS ac_store_format (format INTEGER NOT NULL)", cancellationToken).ConfigureAwait(false);
        await ExecuteAsync(connection, transaction, $"INSERT INTO ac_store_format (format) VALUES ({StoreFormat})", cancellationToken).ConfigureAwait(false);
    }

    private async Task<bool> ExistsAsync(DbConnection connection, DbTransaction transaction, string table, CancellationToken cancellationToken)
    {
        await using var command = Command(connection, transaction, TableExistsSql);
        command.Add("name", table);
        return await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false) is not (null or DBNull);
    }

    public static DbCommand Command(DbConnection connection, DbTransaction? transaction, string sql)
    {
        var command = connection.CreateCommand();
        command.CommandText = sql;
        command.Transaction = transaction;
        return command;
    }

    protected static async Task ExecuteAsync(DbConnection connection, DbTransaction? transaction, string sql, CancellationToken cancellationToken)
    {
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        command.Transaction = transaction;
        await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
    }
}

/// <summary>Parameter helpers shared by both dialects.</summary>
internal static class DbCommandExtensions
{
    public static void Add(this DbCommand command, string name, object value)
    {
        var parameter = command.CreateParameter();
        parameter.ParameterName = name;
        parameter.Value = value;
        command.Parameters.Add(parameter);
    }

    /// <summary>Sets a parameter of a reused command, adding it the first time.</summary>
    public static void Set(this DbCommand command, string name, object value)
    {
        if (command.Parameters.Contains(name))
        {
            command.Parameters[name].Value = value;
        }
        else
        {
            command.Add(name, value);
        }
    }
}

/// <summary>The store holds data this version cannot read; nothing was changed.</summary>
public sealed class StoreFormatException : Exception
{
    public StoreFormatException()
    {
    }

    public StoreFormatException(string message)
        : base(message)
    {
    }

    public StoreFormatException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}

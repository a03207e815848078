using System.Data.Common;
using ActorCluster.Grains.Raft;

namespace ActorCluster.Grains.Storage;

/// <summary>What differs between the databases: connections, schema, and bulk inserts.</summary>
internal abstract class SqlDialect
{
    public abstract string Description { get; }

    /// <summary>Opens a connection for reads.</summary>
    public abstract Task<DbConnection> OpenAsync(CancellationToken cancellationToken);

    /// <summary>Opens the long-lived connection of a writer.</summary>
    public virtual Task<DbConnection> OpenWriterAsync(CancellationToken cancellationToken) => OpenAsync(cancellationToken);

    /// <summary>Creates or upgrades the schema; safe to run concurrently and repeatedly.</summary>
    public abstract Task MigrateAsync(CancellationToken cancellationToken);

    /// <summary>Appends entries in one round trip where the database allows.</summary>
    public abstract Task InsertEntriesAsync(WriterSession session, string replicaId, Entry[] entries);

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

using System.Data.Common;

namespace ActorCluster.Grains.Storage;

/// <summary>
/// A writer's connection with its statements prepared once and reused for every batch: the
/// same few statements run for every replica write, and preparing them each time cost more than
/// running them.
/// </summary>
internal sealed class WriterSession(DbConnection connection) : IAsyncDisposable
{
    private readonly Dictionary<string, DbCommand> _commands = new(StringComparer.Ordinal);

    public DbConnection Connection => connection;

    /// <summary>The transaction of the batch being written.</summary>
    public DbTransaction? Transaction { get; set; }

    /// <summary>The prepared command for <paramref name="sql"/>, enlisted in the current transaction.</summary>
    public DbCommand Command(string sql)
    {
        if (!_commands.TryGetValue(sql, out var command))
        {
            command = connection.CreateCommand();
            command.CommandText = sql;
            _commands[sql] = command;
        }

        command.Transaction = Transaction;
        return command;
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var command in _commands.Values)
        {
            await command.DisposeAsync().ConfigureAwait(false);
        }

        await connection.DisposeAsync().ConfigureAwait(false);
    }
}

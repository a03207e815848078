using System.Data.Common;
using ActorCluster.Grains.Raft;
using Microsoft.Data.Sqlite;

namespace ActorCluster.Grains.Storage;

/// <summary>
/// Embedded SQLite: WAL journal (readers never block the writer), synchronous=FULL (a commit is
/// on disk when it returns), one writer connection per file.
/// </summary>
internal sealed class SqliteDialect : SqlDialect
{
    private readonly string _connectionString;
    private readonly string _path;

    public SqliteDialect(string path)
    {
        _path = Path.GetFullPath(path);
        _connectionString = new SqliteConnectionStringBuilder { DataSource = _path, Pooling = true, DefaultTimeout = 30 }.ToString();
    }

    public override string Description => $"SQLite {_path}";

    public override async Task<DbConnection> OpenAsync(CancellationToken cancellationToken)
    {
        var connection = new SqliteConnection(_connectionString);
        await connection.OpenAsync(cancellationToken).ConfigureAwait(false);
        await ExecuteAsync(connection, null, "PRAGMA synchronous = FULL; PRAGMA busy_timeout = 30000;", cancellationToken).ConfigureAwait(false);
        return connection;
    }

    public override async Task MigrateAsync(CancellationToken cancellationToken)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(_path)!);
        var connection = await OpenAsync(cancellationToken).ConfigureAwait(false);
        await using (connection.ConfigureAwait(false))
        {
            await ExecuteAsync(connection, null, "PRAGMA journal_mode = WAL;", cancellationToken).ConfigureAwait(false);
            var transaction = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
            await using (transaction.ConfigureAwait(false))
            {
                await CheckFormatAsync(connection, transaction, cancellationToken).ConfigureAwait(false);
                await ExecuteAsync(connection, transaction, SqliteSchema.Replicas, cancellationToken).ConfigureAwait(false);
                await ExecuteAsync(connection, transaction, SqliteSchema.OrleansPersistence, cancellationToken).ConfigureAwait(false);
                await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
            }
        }
    }

    protected override string TableExistsSql => "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = @name";

    public override async Task InsertEntriesAsync(WriterSession session, string replicaId, Entry[] entries)
    {
        // In-process SQLite: one prepared statement stepped per row costs microseconds, no round trips.
        var command = session.Command("INSERT INTO ac_log (replica_id, idx, term, kind, data) VALUES (@id, @idx, @term, @kind, @data)");
        command.Set("id", replicaId);
        foreach (var entry in entries)
        {
            command.Set("idx", (long)entry.Index);
            command.Set("term", (long)entry.Term);
            command.Set("kind", (long)entry.Type);
            command.Set("data", entry.Data);
            await command.ExecuteNonQueryAsync().ConfigureAwait(false);
        }
    }
}

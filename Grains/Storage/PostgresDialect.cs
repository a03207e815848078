using System.Data.Common;
using ActorCluster.Grains.Raft;
using Npgsql;
using NpgsqlTypes;

namespace ActorCluster.Grains.Storage;

/// <summary>PostgreSQL through Npgsql: pooled connections, entries appended with one array insert.</summary>
internal sealed class PostgresDialect(string connectionString) : SqlDialect
{
    private readonly NpgsqlDataSource _dataSource = NpgsqlDataSource.Create(connectionString);

    public override string Description
    {
        get
        {
            var builder = new NpgsqlConnectionStringBuilder(connectionString);
            return $"PostgreSQL {builder.Host}:{builder.Port}/{builder.Database}";
        }
    }

    /// <summary>Closes the pooled connections: a store that is disposed holds none open.</summary>
    public override async ValueTask DisposeAsync()
    {
        await _dataSource.DisposeAsync().ConfigureAwait(false);
        await base.DisposeAsync().ConfigureAwait(false);
    }

    public override async Task<DbConnection> OpenAsync(CancellationToken cancellationToken) =>
        await _dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);

    public override async Task MigrateAsync(CancellationToken cancellationToken)
    {
        var connection = await _dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using (connection.ConfigureAwait(false))
        {
            var transaction = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
            await using (transaction.ConfigureAwait(false))
            {
                // Silos starting together migrate one at a time.
                await ExecuteAsync(connection, transaction, "SELECT pg_advisory_xact_lock(4242424242)", cancellationToken).ConfigureAwait(false);
                await CheckFormatAsync(connection, transaction, cancellationToken).ConfigureAwait(false);
                await ExecuteAsync(connection, transaction, PostgresSchema.Replicas, cancellationToken).ConfigureAwait(false);
                await ExecuteAsync(connection, transaction, PostgresSchema.OrleansQueries, cancellationToken).ConfigureAwait(false);
                await ExecuteAsync(connection, transaction, PostgresSchema.OrleansPersistence, cancellationToken).ConfigureAwait(false);
                await ExecuteAsync(connection, transaction, PostgresSchema.OrleansClustering, cancellationToken).ConfigureAwait(false);
                await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
            }
        }
    }

    protected override string TableExistsSql => "SELECT to_regclass(@name)::text";

    public override async Task InsertEntriesAsync(WriterSession session, string replicaId, Entry[] entries)
    {
        var indexes = new long[entries.Length];
        var terms = new long[entries.Length];
        var kinds = new short[entries.Length];
        var data = new byte[entries.Length][];
        for (var i = 0; i < entries.Length; i++)
        {
            indexes[i] = (long)entries[i].Index;
            terms[i] = (long)entries[i].Term;
            kinds[i] = (short)entries[i].Type;
            data[i] = entries[i].Data;
        }

        var command = (NpgsqlCommand)session.Command("INSERT INTO ac_log (replica_id, idx, term, kind, data) SELECT @id, * FROM unnest(@idx, @term, @kind, @data)");
        if (command.Parameters.Count == 0)
        {
            command.Parameters.Add(new NpgsqlParameter("id", NpgsqlDbType.Varchar));
            command.Parameters.Add(new NpgsqlParameter("idx", NpgsqlDbType.Array | NpgsqlDbType.Bigint));
            command.Parameters.Add(new NpgsqlParameter("term", NpgsqlDbType.Array | NpgsqlDbType.Bigint));
            command.Parameters.Add(new NpgsqlParameter("kind", NpgsqlDbType.Array | NpgsqlDbType.Smallint));
            command.Parameters.Add(new NpgsqlParameter("data", NpgsqlDbType.Array | NpgsqlDbType.Bytea));
        }

        command.Parameters["id"].Value = replicaId;
        command.Parameters["idx"].Value = indexes;
        command.Parameters["term"].Value = terms;
        command.Parameters["kind"].Value = kinds;
        command.Parameters["data"].Value = data;
        await command.ExecuteNonQueryAsync().ConfigureAwait(false);
    }
}

using ActorCluster.Grains.Storage;
using Npgsql;

namespace ActorCluster.Tests.Storage;

/// <summary>
/// Real databases for storage tests: SQLite in a temporary directory, and PostgreSQL at
/// <c>ACTORCLUSTER_TEST_POSTGRES</c> (default: the local server that ./test.sh installs and starts).
/// A missing PostgreSQL fails these tests; it never skips them.
/// </summary>
internal static class StorageFixture
{
    public const string DefaultPostgres = "Host=127.0.0.1;Port=5432;Username=postgres;Password=postgres;Database=actorcluster_test;Timeout=5";

    public static string PostgresConnectionString =>
        Environment.GetEnvironmentVariable("ACTORCLUSTER_TEST_POSTGRES") is { Length: > 0 } configured ? configured : DefaultPostgres;

    private static readonly SemaphoreSlim CreateDatabaseOnce = new(1, 1);
    private static bool _databaseReady;

    /// <summary>Options for a fresh, empty store of the given provider (its own database, for PostgreSQL).</summary>
    public static async Task<StorageOptions> FreshAsync(StorageProvider provider)
    {
        if (provider == StorageProvider.Sqlite)
        {
            var directory = Path.Combine(Path.GetTempPath(), "actorcluster-tests", Guid.NewGuid().ToString("N"));
            return new StorageOptions { Provider = StorageProvider.Sqlite, DataDirectory = directory };
        }

        await EnsurePostgresDatabaseAsync();
        var database = $"{FreshPrefix}{Guid.NewGuid().ToString("N")[..12]}";
        await ExecuteAdminAsync($"CREATE DATABASE \"{database}\"");
        var connectionString = new NpgsqlConnectionStringBuilder(PostgresConnectionString) { Database = database }.ConnectionString;
        return new StorageOptions { Provider = StorageProvider.PostgreSql, ConnectionString = connectionString };
    }

    private const string FreshPrefix = "actorcluster_t_";

    /// <summary>A replica id no other test uses (PostgreSQL tests share one database).</summary>
    public static string UniqueReplica(string name) => $"test-{Guid.NewGuid():N}/{name}";

    private static async Task ExecuteAdminAsync(string sql)
    {
        var admin = new NpgsqlConnectionStringBuilder(PostgresConnectionString) { Database = "postgres" };
        await using var connection = new NpgsqlConnection(admin.ConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync();
    }

    public static async Task EnsurePostgresDatabaseAsync()
    {
        await CreateDatabaseOnce.WaitAsync();
        try
        {
            if (_databaseReady)
            {
                return;
            }

            var target = new NpgsqlConnectionStringBuilder(PostgresConnectionString);
            var admin = new NpgsqlConnectionStringBuilder(PostgresConnectionString) { Database = "postgres" };
            try
            {
                await using var connection = new NpgsqlConnection(admin.ConnectionString);
                await connection.OpenAsync();
                await using var exists = new NpgsqlCommand("SELECT 1 FROM pg_database WHERE datname = @name", connection);
                exists.Parameters.AddWithValue("name", target.Database!);
                if (await exists.ExecuteScalarAsync() is null)
                {
                    await using var create = new NpgsqlCommand($"CREATE DATABASE \"{target.Database}\"", connection);
                    await create.ExecuteNonQueryAsync();
                }
            }
            catch (NpgsqlException e)
            {
                throw new InvalidOperationException(
                    $"PostgreSQL is not reachable at {target.Host}:{target.Port} ({e.Message}). Run ./test.sh, which installs and starts it, " +
                    "or point ACTORCLUSTER_TEST_POSTGRES at a server.", e);
            }

            // Databases of earlier runs go; each test of this run gets its own.
            await using (var connection = new NpgsqlConnection(admin.ConnectionString))
            {
                await connection.OpenAsync();
                var stale = new List<string>();
                await using (var list = new NpgsqlCommand($"SELECT datname FROM pg_database WHERE datname LIKE '{FreshPrefix}%'", connection))
                await using (var reader = await list.ExecuteReaderAsync())
                {
                    while (await reader.ReadAsync())
                    {
                        stale.Add(reader.GetString(0));
                    }
                }

                foreach (var name in stale)
                {
                    await using var drop = new NpgsqlCommand($"DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)", connection);
                    await drop.ExecuteNonQueryAsync();
                }
            }

            _databaseReady = true;
        }
        finally
        {
            CreateDatabaseOnce.Release();
        }
    }
}

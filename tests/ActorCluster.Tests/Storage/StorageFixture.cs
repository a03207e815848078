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

    /// <summary>Options for a fresh, empty store of the given provider.</summary>
    public static async Task<StorageOptions> FreshAsync(StorageProvider provider)
    {
        if (provider == StorageProvider.Sqlite)
        {
            var directory = Path.Combine(Path.GetTempPath(), "actorcluster-tests", Guid.NewGuid().ToString("N"));
            return new StorageOptions { Provider = StorageProvider.Sqlite, DataDirectory = directory };
        }

        await EnsurePostgresDatabaseAsync();
        return new StorageOptions { Provider = StorageProvider.PostgreSql, ConnectionString = PostgresConnectionString };
    }

    /// <summary>A replica id no other test uses (PostgreSQL tests share one database).</summary>
    public static string UniqueReplica(string name) => $"test-{Guid.NewGuid():N}/{name}";

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

            _databaseReady = true;
        }
        finally
        {
            CreateDatabaseOnce.Release();
        }
    }
}

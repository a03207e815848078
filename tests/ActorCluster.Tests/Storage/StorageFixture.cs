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
        var database = $"{FreshPrefix}{DateTime.UtcNow.ToString(StampFormat, System.Globalization.CultureInfo.InvariantCulture)}_{Guid.NewGuid().ToString("N")[..8]}";
        await ExecuteAdminAsync($"CREATE DATABASE \"{database}\"");
        lock (Created)
        {
            Created.Add(database);
        }

        var connectionString = new NpgsqlConnectionStringBuilder(PostgresConnectionString) { Database = database }.ConnectionString;
        return new StorageOptions { Provider = StorageProvider.PostgreSql, ConnectionString = connectionString };
    }

    private const string FreshPrefix = "actorcluster_t_";
    private const string StampFormat = "yyyyMMddHHmmss";

    /// <summary>Databases of this test run, dropped when it ends. Another run's are never touched.</summary>
    private static readonly List<string> Created = [];

    /// <summary>A run that died without dropping its databases leaves them; they go once surely abandoned.</summary>
    private static readonly TimeSpan AbandonedAfter = TimeSpan.FromHours(6);

    /// <summary>True for a test database stamped more than six hours before <paramref name="now"/> (or not stamped at all).</summary>
    internal static bool IsAbandoned(string database, DateTime now)
    {
        var stamp = database.Length >= FreshPrefix.Length + StampFormat.Length ? database.Substring(FreshPrefix.Length, StampFormat.Length) : string.Empty;
        return !DateTime.TryParseExact(stamp, StampFormat, System.Globalization.CultureInfo.InvariantCulture, System.Globalization.DateTimeStyles.AssumeUniversal | System.Globalization.DateTimeStyles.AdjustToUniversal, out var created)
            || now - created > AbandonedAfter;
    }

    private static void DropCreated()
    {
        string[] mine;
        lock (Created)
        {
            mine = [.. Created];
        }

        try
        {
            using var connection = new NpgsqlConnection(new NpgsqlConnectionStringBuilder(PostgresConnectionString) { Database = "postgres" }.ConnectionString);
            connection.Open();
            foreach (var name in mine)
            {
                using var drop = new NpgsqlCommand($"DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)", connection);
                drop.ExecuteNonQuery();
            }
        }
        catch (NpgsqlException)
        {
            // Best effort: a later run drops them once they are old.
        }
    }

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

            // Databases that runs long gone left behind go; those of runs still going stay.
            await using (var connection = new NpgsqlConnection(admin.ConnectionString))
            {
                await connection.OpenAsync();
                var abandoned = new List<string>();
                await using (var list = new NpgsqlCommand($"SELECT datname FROM pg_database WHERE datname LIKE '{FreshPrefix}%'", connection))
                await using (var reader = await list.ExecuteReaderAsync())
                {
                    while (await reader.ReadAsync())
                    {
                        if (IsAbandoned(reader.GetString(0), DateTime.UtcNow))
                        {
                            abandoned.Add(reader.GetString(0));
                        }
                    }
                }

                foreach (var name in abandoned)
                {
                    await using var drop = new NpgsqlCommand($"DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)", connection);
                    await drop.ExecuteNonQueryAsync();
                }
            }

            AppDomain.CurrentDomain.ProcessExit += (_, _) => DropCreated();
            _databaseReady = true;
        }
        finally
        {
            CreateDatabaseOnce.Release();
        }
    }
}

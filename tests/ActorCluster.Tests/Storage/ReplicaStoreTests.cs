using System.Data.Common;
using ActorCluster.Grains.Raft;
using ActorCluster.Grains.Storage;

namespace ActorCluster.Tests.Storage;

/// <summary>Replica storage on real SQLite and real PostgreSQL: durability, truncation, snapshots, fencing, atomic batches.</summary>
public sealed class ReplicaStoreTests
{
    public static TheoryData<StorageProvider> Providers => [StorageProvider.Sqlite, StorageProvider.PostgreSql];

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task A_new_replica_loads_empty_and_every_claim_raises_the_epoch(StorageProvider provider)
    {
        await using var store = await OpenAsync(provider);
        var id = StorageFixture.UniqueReplica("0/1");
        var first = await store.ClaimAsync(id);
        var second = await store.ClaimAsync(id);
        Assert.Equal(first.Epoch + 1, second.Epoch);
        var state = await store.LoadAsync(second);
        Assert.Equal(default, state.HardState);
        Assert.Null(state.Snapshot);
        Assert.Empty(state.Entries);
    }

    [Fact]
    public async Task A_store_keeps_its_identity_across_restarts_refuses_another_cluster_and_an_empty_directory_is_a_new_store()
    {
        var options = await StorageFixture.FreshAsync(StorageProvider.Sqlite);
        StoreIdentity first;
        await using (var store = await AdoReplicaStore.OpenAsync(options))
        {
            first = await store.IdentifyAsync("cluster-a");
            Assert.True(first.IsNew);
            Assert.NotEqual(0UL, first.StoreId);
            Assert.Equal(16, first.StoreHex.Length);
        }

        await using (var store = await AdoReplicaStore.OpenAsync(options))
        {
            var again = await store.IdentifyAsync("cluster-a");
            Assert.Equal(first with { IsNew = false }, again);
            var error = await Assert.ThrowsAsync<StoreIdentityException>(() => store.IdentifyAsync("cluster-b"));
            Assert.Contains("cluster-a", error.Message, StringComparison.Ordinal);
            // Refusing changed nothing.
            Assert.Equal(first.StoreId, (await store.IdentifyAsync("cluster-a")).StoreId);
        }

        // The disk is wiped (and the process restarted: no pooled connection to the old file).
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        Directory.Delete(options.DataDirectory, recursive: true);
        await using (var store = await AdoReplicaStore.OpenAsync(options))
        {
            var fresh = await store.IdentifyAsync("cluster-a");
            Assert.True(fresh.IsNew);
            Assert.NotEqual(first.StoreId, fresh.StoreId);
        }
    }

    [Fact]
    public async Task A_disposed_postgres_store_holds_no_connection_open()
    {
        var options = await StorageFixture.FreshAsync(StorageProvider.PostgreSql);
        var database = new Npgsql.NpgsqlConnectionStringBuilder(options.ConnectionString).Database!;
        await using (var store = await AdoReplicaStore.OpenAsync(options))
        {
            var claim = await store.ClaimAsync(StorageFixture.UniqueReplica("0/1"));
            await store.SaveAsync(claim, new ReplicaWrite(new HardState(1, 1, 0), Entries(1, 1)));
            await store.LoadAsync(claim);
            Assert.True(await ConnectionsToAsync(database) > 0);
        }

        // Every store of a test run (and every silo that stops) would otherwise keep its pool's
        // idle connections until they time out: PostgreSQL ran out of connections in CI.
        await WaitUntilAsync(async () => await ConnectionsToAsync(database) == 0);
        Assert.Equal(0, await ConnectionsToAsync(database));
    }

    private static async Task<long> ConnectionsToAsync(string database)
    {
        // From another database, and without pooling, so that this connection is not counted or kept.
        var admin = new Npgsql.NpgsqlConnectionStringBuilder(StorageFixture.PostgresConnectionString) { Database = "postgres", Pooling = false };
        await using var connection = new Npgsql.NpgsqlConnection(admin.ConnectionString);
        await connection.OpenAsync();
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT COUNT(*) FROM pg_stat_activity WHERE datname = @db";
        command.Parameters.AddWithValue("db", database);
        return Convert.ToInt64(await command.ExecuteScalarAsync(), System.Globalization.CultureInfo.InvariantCulture);
    }

    private static async Task WaitUntilAsync(Func<Task<bool>> condition)
    {
        // The server notices a closed connection a moment after the client closes it.
        for (var i = 0; i < 50 && !await condition(); i++)
        {
            await Task.Delay(100);
        }
    }

    [Fact]
    public async Task Two_silos_starting_on_one_new_postgresql_store_agree_on_its_identity()
    {
        // On SQLite, a silo's own data directory, the second would not get in (see the next test).
        var options = await StorageFixture.FreshAsync(StorageProvider.PostgreSql);
        await using var a = await AdoReplicaStore.OpenAsync(options);
        await using var b = await AdoReplicaStore.OpenAsync(options);
        var identities = await Task.WhenAll(Enumerable.Range(0, 8).Select(i => (i % 2 == 0 ? a : b).IdentifyAsync("cluster")));
        Assert.Single(identities.Select(i => i.StoreId).Distinct());
        Assert.Single(identities, i => i.IsNew);
    }

    [Fact]
    public async Task A_data_directory_is_held_by_one_store_at_a_time_and_released_when_it_closes()
    {
        var options = await StorageFixture.FreshAsync(StorageProvider.Sqlite);
        var first = await AdoReplicaStore.OpenAsync(options);
        var refused = await Assert.ThrowsAsync<StoreLockedException>(() => AdoReplicaStore.OpenAsync(options));
        Assert.Contains($"in use by process {Environment.ProcessId}", refused.Message, StringComparison.Ordinal);
        Assert.Contains(Path.GetFullPath(options.DataDirectory), refused.Message, StringComparison.Ordinal);
        var identity = await first.IdentifyAsync("cluster");
        await first.DisposeAsync();

        await using var second = await AdoReplicaStore.OpenAsync(options);
        Assert.Equal(identity.StoreId, (await second.IdentifyAsync("cluster")).StoreId);
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Hard_state_entries_and_snapshot_survive_reopening_the_store(StorageProvider provider)
    {
        var options = await StorageFixture.FreshAsync(provider);
        var id = StorageFixture.UniqueReplica("0/1");
        var snapshot = new Snapshot(new SnapshotMetadata(0, 0, ClusterConfig.OfVoters(1, 2, 3)), []);
        await using (var store = await AdoReplicaStore.OpenAsync(options))
        {
            var claim = await store.ClaimAsync(id);
            await store.SaveAsync(claim, new ReplicaWrite(null, [], snapshot, SnapshotReplacesLog: true));
            await store.SaveAsync(claim, new ReplicaWrite(new HardState(3, 2, 2), Entries(1, 1, 2, 3)));
        }

        await using (var reopened = await AdoReplicaStore.OpenAsync(options))
        {
            var state = await reopened.LoadAsync(await reopened.ClaimAsync(id));
            Assert.Equal(new HardState(3, 2, 2), state.HardState);
            Assert.Equal(ClusterConfig.OfVoters(1, 2, 3), state.Snapshot!.Metadata.Config);
            Assert.Equal([1UL, 2UL, 3UL], state.Entries.Select(e => e.Index));
            Assert.Equal([1UL, 2UL, 3UL], state.Entries.Select(e => e.Term));
            Assert.Equal([(byte)1], state.Entries[0].Data);
            Assert.Equal(EntryType.Normal, state.Entries[0].Type);
        }
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Entries_replace_the_stored_suffix_from_their_first_index(StorageProvider provider)
    {
        await using var store = await OpenAsync(provider);
        var claim = await store.ClaimAsync(StorageFixture.UniqueReplica("0/1"));
        await store.SaveAsync(claim, new ReplicaWrite(new HardState(1, 1, 1), Entries(1, 1, 1, 1, 1)));
        await store.SaveAsync(claim, new ReplicaWrite(new HardState(2, 2, 1), Entries(3, 2)));
        var state = await store.LoadAsync(claim);
        Assert.Equal([1UL, 1UL, 2UL], state.Entries.Select(e => e.Term));
        Assert.Equal(3, state.Entries.Count);
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task A_snapshot_from_the_leader_replaces_the_log_and_a_local_one_compacts_it(StorageProvider provider)
    {
        await using var store = await OpenAsync(provider);
        var claim = await store.ClaimAsync(StorageFixture.UniqueReplica("0/1"));
        await store.SaveAsync(claim, new ReplicaWrite(new HardState(1, 1, 6), Entries(1, 1, 1, 1, 1, 1, 1)));
        var local = new Snapshot(new SnapshotMetadata(4, 1, ClusterConfig.OfVoters(1, 2, 3)), [4]);
        await store.SaveAsync(claim, new ReplicaWrite(null, [], local, SnapshotReplacesLog: false, CompactThrough: 4));
        var state = await store.LoadAsync(claim);
        Assert.Equal(4UL, state.Snapshot!.Index);
        Assert.Equal([4], state.Snapshot.Data);
        Assert.Equal([5UL, 6UL], state.Entries.Select(e => e.Index));
        Assert.Equal(4UL, state.Applied);

        var installed = new Snapshot(new SnapshotMetadata(20, 3, ClusterConfig.OfVoters(1, 2, 3)), [20]);
        await store.SaveAsync(claim, new ReplicaWrite(new HardState(3, 0, 20), [], installed, SnapshotReplacesLog: true));
        state = await store.LoadAsync(claim);
        Assert.Equal(20UL, state.Snapshot!.Index);
        Assert.Empty(state.Entries);
        Assert.Equal(20UL, state.HardState.Commit);
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task A_fenced_off_activation_can_neither_write_nor_load(StorageProvider provider)
    {
        await using var store = await OpenAsync(provider);
        var id = StorageFixture.UniqueReplica("0/1");
        var old = await store.ClaimAsync(id);
        await store.SaveAsync(old, new ReplicaWrite(new HardState(1, 1, 0), Entries(1, 1)));
        var current = await store.ClaimAsync(id);
        await Assert.ThrowsAsync<ReplicaFencedException>(() => store.SaveAsync(old, new ReplicaWrite(new HardState(2, 3, 0), Entries(2, 2))));
        await Assert.ThrowsAsync<ReplicaFencedException>(() => store.LoadAsync(old));
        var state = await store.LoadAsync(current);
        Assert.Equal(new HardState(1, 1, 0), state.HardState);
        Assert.Single(state.Entries);
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Two_activations_racing_their_writes_leave_exactly_the_newest_claims_history(StorageProvider provider)
    {
        await using var store = await OpenAsync(provider);
        var id = StorageFixture.UniqueReplica("0/1");
        for (var round = 0; round < 20; round++)
        {
            var a = await store.ClaimAsync(id);
            var b = await store.ClaimAsync(id);
            // Both activations vote in the same term at once: only the newer claim's vote may land.
            var results = await Task.WhenAll(
                Outcome(store.SaveAsync(a, new ReplicaWrite(new HardState((ulong)round + 1, 100, 0), []))),
                Outcome(store.SaveAsync(b, new ReplicaWrite(new HardState((ulong)round + 1, 200, 0), []))));
            Assert.Equal([false, true], results);
            Assert.Equal(200UL, (await store.LoadAsync(b)).HardState.Vote);
        }
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task A_batch_is_atomic_one_failing_write_rolls_back_all_of_it(StorageProvider provider)
    {
        await using var store = await OpenAsync(provider);
        var good = await store.ClaimAsync(StorageFixture.UniqueReplica("0/1"));
        var bad = await store.ClaimAsync(StorageFixture.UniqueReplica("0/2"));
        await store.SaveAsync(good, new ReplicaWrite(new HardState(1, 1, 1), Entries(1, 1)));
        // The second write repeats an index, which the database refuses half-way through the batch.
        Entry[] duplicate = [.. Entries(1, 1), .. Entries(1, 1)];
        await Assert.ThrowsAnyAsync<DbException>(() => store.SaveAllAsync([
            (good, new ReplicaWrite(new HardState(2, 2, 1), Entries(2, 2))),
            (bad, new ReplicaWrite(new HardState(5, 5, 0), duplicate)),
        ]));
        var state = await store.LoadAsync(good);
        Assert.Equal(new HardState(1, 1, 1), state.HardState);
        Assert.Single(state.Entries);
        Assert.Equal(default, (await store.LoadAsync(bad)).HardState);
        // The store keeps working after the failed batch.
        await store.SaveAsync(good, new ReplicaWrite(new HardState(2, 2, 2), Entries(2, 2)));
        Assert.Equal(2, (await store.LoadAsync(good)).Entries.Count);
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task A_write_that_fails_in_a_group_commit_fails_alone_and_the_others_of_its_batch_commit(StorageProvider provider)
    {
        var faults = new StoreFaults();
        await using var store = await AdoReplicaStore.OpenAsync(await StorageFixture.FreshAsync(provider), faults);
        var claims = await Task.WhenAll(Enumerable.Range(0, 8).Select(i => store.ClaimAsync(StorageFixture.UniqueReplica($"{i}/1"))));
        var poisoned = claims[3].ReplicaId;
        // Not an error the store knows: any exception while writing one replica's rows.
        faults.FailWrites(id => id == poisoned ? new NotSupportedException("injected") : null);
        faults.Stall();
        var saves = claims.Select(c => Outcome(store.SaveAsync(c, new ReplicaWrite(new HardState(1, 1, 1), Entries(1, 1))).WaitAsync(TimeSpan.FromSeconds(10)))).ToList();
        var before = store.Transactions;
        faults.Resume();
        var failed = await Assert.ThrowsAsync<NotSupportedException>(() => saves[3]);
        Assert.Equal("injected", failed.Message);
        foreach (var (claim, save) in claims.Zip(saves).Where(p => p.First.ReplicaId != poisoned))
        {
            Assert.True(await save);
            Assert.Single((await store.LoadAsync(claim)).Entries);
        }

        if (provider == StorageProvider.Sqlite)
        {
            // One writer, so one batch: it failed, then each write went on its own.
            Assert.Equal(before + 7, store.Transactions);
        }

        Assert.Empty((await store.LoadAsync(claims[3])).Entries);

        // The writer lives on: once the fault is gone the replica writes again.
        faults.Heal();
        await store.SaveAsync(claims[3], new ReplicaWrite(new HardState(1, 1, 1), Entries(1, 1)));
        Assert.Single((await store.LoadAsync(claims[3])).Entries);
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task A_dead_writer_fails_every_pending_and_later_write_at_once(StorageProvider provider)
    {
        var faults = new StoreFaults();
        await using var store = await AdoReplicaStore.OpenAsync(await StorageFixture.FreshAsync(provider), faults);
        var claims = await Task.WhenAll(Enumerable.Range(0, 4).Select(i => store.ClaimAsync(StorageFixture.UniqueReplica($"{i}/1"))));
        faults.Stall();
        var pending = claims.Select(c => store.SaveAsync(c, new ReplicaWrite(new HardState(1, 1, 0), Entries(1, 1)))).ToList();
        faults.KillWriters(new InvalidCastException("a bug in the writer"));
        faults.Resume();
        var deadline = Task.Delay(TimeSpan.FromSeconds(10));
        foreach (var save in pending)
        {
            Assert.NotSame(deadline, await Task.WhenAny(save, deadline));
            var error = await Assert.ThrowsAsync<ReplicaStoreUnavailableException>(() => save);
            Assert.IsType<InvalidCastException>(error.InnerException);
        }

        var later = store.SaveAsync(claims[0], new ReplicaWrite(new HardState(2, 1, 0), []));
        Assert.True(later.IsCompleted, "a write to a dead writer must fail at once");
        await Assert.ThrowsAsync<ReplicaStoreUnavailableException>(() => later);
        // The store says so (the silo's health check reports it).
        Assert.IsType<InvalidCastException>(store.Fault);
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Many_replicas_writing_at_once_are_group_committed_and_each_keeps_its_order(StorageProvider provider)
    {
        await using var store = await OpenAsync(provider);
        var replicas = await Task.WhenAll(Enumerable.Range(0, 32).Select(i => store.ClaimAsync(StorageFixture.UniqueReplica($"{i}/1"))));
        await Task.WhenAll(replicas.Select(async claim =>
        {
            for (ulong i = 1; i <= 50; i++)
            {
                await store.SaveAsync(claim, new ReplicaWrite(new HardState(1, 1, i), Entries(i, 1)));
            }
        }));
        foreach (var claim in replicas)
        {
            var state = await store.LoadAsync(claim);
            Assert.Equal(50, state.Entries.Count);
            Assert.Equal(50UL, state.HardState.Commit);
        }
    }

    [Fact]
    public async Task The_row_that_every_write_updates_holds_no_snapshot_bytes()
    {
        // Regression: with the snapshot in the hard-state row, every vote or commit write copied
        // the whole snapshot again, and writes slowed down by half once shards took snapshots.
        var options = await StorageFixture.FreshAsync(StorageProvider.Sqlite);
        await using var store = await AdoReplicaStore.OpenAsync(options);
        var id = StorageFixture.UniqueReplica("0/1");
        var claim = await store.ClaimAsync(id);
        var big = new Snapshot(new SnapshotMetadata(10, 1, ClusterConfig.OfVoters(1, 2, 3)), new byte[2 * 1024 * 1024]);
        await store.SaveAsync(claim, new ReplicaWrite(new HardState(1, 1, 10), [], big, SnapshotReplacesLog: true));
        await store.SaveAsync(claim, new ReplicaWrite(new HardState(2, 1, 10), Entries(11, 2), MayOverwrite: false));

        await using var connection = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={options.SqlitePath}");
        await connection.OpenAsync();
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT * FROM ac_replica WHERE replica_id = @id";
        command.Parameters.AddWithValue("id", id);
        await using var reader = await command.ExecuteReaderAsync();
        Assert.True(await reader.ReadAsync());
        var rowBytes = Enumerable.Range(0, reader.FieldCount).Sum(i => reader.IsDBNull(i) ? 0 : reader.GetValue(i) is byte[] bytes ? bytes.Length : 8);
        Assert.True(rowBytes < 1024, $"the hard-state row holds {rowBytes} bytes");
        Assert.Equal(2 * 1024 * 1024, (await store.LoadAsync(claim)).Snapshot!.Data.Length);
    }

    [Theory]
    [InlineData("actorcluster_t_20261130060000_ab12cd34", false)]
    [InlineData("actorcluster_t_20261129230000_ab12cd34", true)]
    [InlineData("actorcluster_t_0123456789ab", true)]
    public void Only_test_databases_of_runs_long_gone_are_dropped(string database, bool abandoned) =>
        Assert.Equal(abandoned, StorageFixture.IsAbandoned(database, new DateTime(2026, 11, 30, 7, 0, 0, DateTimeKind.Utc)));

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task A_large_snapshot_is_stored_in_bounded_chunks_and_transactions_and_a_newer_one_replaces_it(StorageProvider provider)
    {
        var options = await StorageFixture.FreshAsync(provider);
        options.SnapshotChunkBytes = 1 << 20;
        options.MaxBatchBytes = 1 << 20;
        await using var store = await AdoReplicaStore.OpenAsync(options);
        var claim = await store.ClaimAsync(StorageFixture.UniqueReplica("0/1"));
        var data = new byte[(10 << 20) + 123];
        new Random(5).NextBytes(data);
        var before = store.Transactions;
        var first = new Snapshot(new SnapshotMetadata(50, 2, ClusterConfig.OfVoters(1, 2, 3)), data);
        await store.SaveAsync(claim, new ReplicaWrite(new HardState(2, 1, 50), [], first, SnapshotReplacesLog: true));
        // Eleven chunks of at most 1 MiB, in transactions of about 1 MiB each, not one of 10 MiB.
        Assert.True(store.Transactions - before >= 11, $"{store.Transactions - before} transactions");
        Assert.Equal(11, await CountAsync(options, "SELECT COUNT(*) FROM ac_snapshot_chunk"));
        var loaded = await store.LoadAsync(claim);
        Assert.Equal(first.Metadata, loaded.Snapshot!.Metadata);
        Assert.Equal(data, loaded.Snapshot.Data);

        var second = new Snapshot(new SnapshotMetadata(80, 3, ClusterConfig.OfVoters(1, 2, 3)), [1, 2, 3]);
        await store.SaveAsync(claim, new ReplicaWrite(null, [], second, SnapshotReplacesLog: false));
        Assert.Equal(second.Data, (await store.LoadAsync(claim)).Snapshot!.Data);
        Assert.Equal(1, await CountAsync(options, "SELECT COUNT(*) FROM ac_snapshot_chunk"));
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task An_older_snapshot_saved_after_a_newer_one_is_dropped(StorageProvider provider)
    {
        var options = await StorageFixture.FreshAsync(provider);
        options.SnapshotChunkBytes = 4096;
        await using var store = await AdoReplicaStore.OpenAsync(options);
        var claim = await store.ClaimAsync(StorageFixture.UniqueReplica("0/1"));
        // The leader's snapshot at 20 replaced the log; entries 21 and 22 followed.
        var newer = new Snapshot(new SnapshotMetadata(20, 3, ClusterConfig.OfVoters(1, 2, 3)), new byte[10_000]);
        await store.SaveAsync(claim, new ReplicaWrite(new HardState(3, 0, 20), [], newer, SnapshotReplacesLog: true));
        await store.SaveAsync(claim, new ReplicaWrite(new HardState(3, 0, 22), Entries(21, 3, 3), MayOverwrite: false));
        // A snapshot the replica took at 10, saved in the background, lands afterwards.
        var older = new Snapshot(new SnapshotMetadata(10, 2, ClusterConfig.OfVoters(1, 2, 3)), new byte[9_000]);
        await store.SaveAsync(claim, new ReplicaWrite(null, [], older, SnapshotReplacesLog: false));

        var state = await store.LoadAsync(claim);
        Assert.Equal(20UL, state.Snapshot!.Index);
        Assert.Equal(10_000, state.Snapshot.Data.Length);
        Assert.Equal([21UL, 22UL], state.Entries.Select(e => e.Index));
        Assert.Equal(3, await CountAsync(options, "SELECT COUNT(*) FROM ac_snapshot_chunk"));
    }

    [Fact]
    public async Task A_large_snapshot_does_not_hold_up_other_replicas_writes()
    {
        var options = await StorageFixture.FreshAsync(StorageProvider.Sqlite);
        options.SnapshotChunkBytes = 1 << 20;
        options.MaxBatchBytes = 1 << 20;
        await using var store = await AdoReplicaStore.OpenAsync(options);
        var big = await store.ClaimAsync(StorageFixture.UniqueReplica("0/1"));
        var small = await store.ClaimAsync(StorageFixture.UniqueReplica("1/1"));
        var snapshot = new Snapshot(new SnapshotMetadata(100, 1, ClusterConfig.OfVoters(1, 2, 3)), new byte[40 << 20]);
        var saving = store.SaveAsync(big, new ReplicaWrite(null, [], snapshot, SnapshotReplacesLog: false));
        // Forty chunks wait in their own lane: the other replica's write goes in the next batch.
        await store.SaveAsync(small, new ReplicaWrite(new HardState(1, 1, 1), Entries(1, 1)));
        Assert.False(saving.IsCompleted, "the small write waited for the whole snapshot");
        await saving;
        Assert.Equal(100UL, (await store.LoadAsync(big)).Snapshot!.Index);
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task A_database_with_replica_data_of_an_earlier_format_is_refused_and_left_alone(StorageProvider provider)
    {
        var options = await StorageFixture.FreshAsync(provider);
        if (provider == StorageProvider.Sqlite)
        {
            Directory.CreateDirectory(options.DataDirectory);
        }

        // What an earlier version left: replica rows, and no format record.
        await CountAsync(options, "CREATE TABLE ac_replica (replica_id varchar(200) NOT NULL PRIMARY KEY, epoch bigint NOT NULL, term bigint NOT NULL DEFAULT 0, vote bigint NOT NULL DEFAULT 0, commit_index bigint NOT NULL DEFAULT 0)");
        await CountAsync(options, "INSERT INTO ac_replica (replica_id, epoch) VALUES ('0/1', 3)");
        var error = await Assert.ThrowsAsync<StoreFormatException>(() => AdoReplicaStore.OpenAsync(options));
        Assert.Contains("earlier version", error.Message, StringComparison.Ordinal);
        Assert.Equal(1, await CountAsync(options, "SELECT COUNT(*) FROM ac_replica"));

        // A store of the previous format (configurations without stores) is refused too.
        var previous = await StorageFixture.FreshAsync(provider);
        if (provider == StorageProvider.Sqlite)
        {
            Directory.CreateDirectory(previous.DataDirectory);
        }

        await CountAsync(previous, "CREATE TABLE ac_store_format (format INTEGER NOT NULL)");
        await CountAsync(previous, $"INSERT INTO ac_store_format (format) VALUES ({SqlDialect.StoreFormat - 1})");
        var older = await Assert.ThrowsAsync<StoreFormatException>(() => AdoReplicaStore.OpenAsync(previous));
        Assert.Contains($"format {SqlDialect.StoreFormat - 1}", older.Message, StringComparison.Ordinal);

        // An empty database is taken, marked, and opened again.
        var fresh = await StorageFixture.FreshAsync(provider);
        await (await AdoReplicaStore.OpenAsync(fresh)).DisposeAsync();
        await using var reopened = await AdoReplicaStore.OpenAsync(fresh);
        Assert.Equal(SqlDialect.StoreFormat, await CountAsync(fresh, "SELECT MAX(format) FROM ac_store_format"));
    }

    [Fact]
    public async Task A_damaged_snapshot_chunk_is_detected_on_load()
    {
        var options = await StorageFixture.FreshAsync(StorageProvider.Sqlite);
        options.SnapshotChunkBytes = 4096;
        await using var store = await AdoReplicaStore.OpenAsync(options);
        var claim = await store.ClaimAsync(StorageFixture.UniqueReplica("0/1"));
        var snapshot = new Snapshot(new SnapshotMetadata(9, 1, ClusterConfig.OfVoters(1, 2, 3)), new byte[10_000]);
        await store.SaveAsync(claim, new ReplicaWrite(new HardState(1, 1, 9), [], snapshot, SnapshotReplacesLog: true));
        await CountAsync(options, "UPDATE ac_snapshot_chunk SET data = X'01' WHERE chunk_no = 1");
        await Assert.ThrowsAsync<InvalidDataException>(() => store.LoadAsync(claim));
    }

    [Fact]
    public async Task Chunks_of_a_snapshot_whose_write_failed_are_never_read()
    {
        var faults = new StoreFaults();
        var options = await StorageFixture.FreshAsync(StorageProvider.Sqlite);
        options.SnapshotChunkBytes = 4096;
        await using var store = await AdoReplicaStore.OpenAsync(options, faults);
        var claim = await store.ClaimAsync(StorageFixture.UniqueReplica("0/1"));
        var good = new Snapshot(new SnapshotMetadata(5, 1, ClusterConfig.OfVoters(1, 2, 3)), new byte[9_000]);
        await store.SaveAsync(claim, new ReplicaWrite(new HardState(1, 1, 5), [], good, SnapshotReplacesLog: true));
        // The second snapshot's chunks fail to store: its final write refuses to point at them.
        faults.FailSnapshotChunks(_ => new IOException("disk full"));
        var bad = new Snapshot(new SnapshotMetadata(20, 2, ClusterConfig.OfVoters(1, 2, 3)), new byte[9_000]);
        var error = await Assert.ThrowsAsync<IOException>(() => store.SaveAsync(claim, new ReplicaWrite(new HardState(2, 1, 20), [], bad, SnapshotReplacesLog: true)));
        Assert.Equal("disk full", error.Message);
        faults.Heal();
        var loaded = await store.LoadAsync(claim);
        Assert.Equal(5UL, loaded.Snapshot!.Index);
        Assert.Equal(new HardState(1, 1, 5), loaded.HardState);
    }

    [Fact]
    public void Invalid_storage_settings_are_refused_naming_the_setting()
    {
        var postgres = Assert.Throws<ArgumentException>(() => new StorageOptions { Provider = StorageProvider.PostgreSql }.Validate());
        Assert.Contains("ActorCluster:Storage:ConnectionString", postgres.Message, StringComparison.Ordinal);
        var batch = Assert.Throws<ArgumentException>(() => new StorageOptions { MaxWritesPerBatch = 0 }.Validate());
        Assert.Contains("MaxWritesPerBatch", batch.Message, StringComparison.Ordinal);
    }

    private static async Task<long> CountAsync(StorageOptions options, string sql)
    {
        await using var connection = options.Provider == StorageProvider.Sqlite
            ? (DbConnection)new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={options.SqlitePath};Pooling=False")
            : new Npgsql.NpgsqlConnection(options.ConnectionString);
        await connection.OpenAsync();
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        return Convert.ToInt64(await command.ExecuteScalarAsync() ?? 0L, System.Globalization.CultureInfo.InvariantCulture);
    }

    private static async Task<AdoReplicaStore> OpenAsync(StorageProvider provider) =>
        await AdoReplicaStore.OpenAsync(await StorageFixture.FreshAsync(provider));

    private static async Task<bool> Outcome(Task save)
    {
        try
        {
            await save;
            return true;
        }
        catch (ReplicaFencedException)
        {
            return false;
        }
    }

    private static Entry[] Entries(ulong first, params ulong[] terms) =>
        [.. terms.Select((t, i) => new Entry(first + (ulong)i, t, EntryType.Normal, [(byte)(first + (ulong)i)]))];
}

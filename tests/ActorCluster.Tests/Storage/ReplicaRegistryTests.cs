using ActorCluster.Grains.Raft;
using ActorCluster.Grains.Storage;

namespace ActorCluster.Tests.Storage;

/// <summary>
/// The store's registry of replicas: nothing is created implicitly, founders and learners are
/// created once, removed ids stay removed, and "initialized but empty" is told apart from "new".
/// </summary>
public sealed class ReplicaRegistryTests
{
    public static TheoryData<StorageProvider> Providers => [StorageProvider.Sqlite, StorageProvider.PostgreSql];

    private static readonly ClusterConfig Founders = new([1, 2, 3], [], new Dictionary<ulong, ulong> { [1] = 0xA, [2] = 0xB, [3] = 0xC });

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task A_founder_is_created_once_with_its_bootstrap_configuration_and_starts_from_it(StorageProvider provider)
    {
        await using var store = await AdoReplicaStore.OpenAsync(await StorageFixture.FreshAsync(provider));
        var id = StorageFixture.UniqueReplica("0/1");
        Assert.Equal(ReplicaPresence.Missing, await store.FindReplicaAsync(id));
        Assert.True(await store.CreateReplicaAsync(id, Founders));
        Assert.False(await store.CreateReplicaAsync(id, ClusterConfig.OfVoters(7)));
        Assert.Equal(ReplicaPresence.Initialized, await store.FindReplicaAsync(id));

        var state = await store.LoadAsync(await store.ClaimAsync(id));
        Assert.NotNull(state.Snapshot);
        Assert.Equal(0UL, state.Snapshot!.Index);
        Assert.Equal(Founders, state.Snapshot.Metadata.Config);
        var node = RaftNode.Start(new RaftOptions { Id = 1, Random = new SeededRandom(1) }, state);
        Assert.Equal(Founders, node.Config);
        Assert.Equal(0xBUL, node.Config.StoreOf(2));
        Assert.Contains(id, await store.ListReplicasAsync());
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task A_learner_starts_empty_and_is_initialized_by_its_first_write(StorageProvider provider)
    {
        await using var store = await AdoReplicaStore.OpenAsync(await StorageFixture.FreshAsync(provider));
        var id = StorageFixture.UniqueReplica("0/4");
        Assert.True(await store.CreateReplicaAsync(id, founders: null));
        Assert.Equal(ReplicaPresence.Created, await store.FindReplicaAsync(id));
        var claim = await store.ClaimAsync(id);
        var state = await store.LoadAsync(claim);
        Assert.Null(state.Snapshot);
        Assert.Empty(state.Entries);

        await store.SaveAsync(claim, new ReplicaWrite(new HardState(2, 0, 0), []));
        await store.MarkInitializedAsync(id);
        Assert.Equal(ReplicaPresence.Initialized, await store.FindReplicaAsync(id));
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task A_tombstoned_replica_keeps_nothing_and_can_never_be_created_again(StorageProvider provider)
    {
        var options = await StorageFixture.FreshAsync(provider);
        await using var store = await AdoReplicaStore.OpenAsync(options);
        var id = StorageFixture.UniqueReplica("0/2");
        await store.CreateReplicaAsync(id, Founders);
        var stale = await store.ClaimAsync(id);
        var claim = await store.ClaimAsync(id);
        await store.SaveAsync(claim, new ReplicaWrite(new HardState(3, 2, 1), [new Entry(1, 3, EntryType.Normal, [1, 2, 3])]));

        // Only the current activation may tombstone it.
        await Assert.ThrowsAsync<ReplicaFencedException>(() => store.TombstoneAsync(stale));
        Assert.Equal(ReplicaPresence.Initialized, await store.FindReplicaAsync(id));

        await store.TombstoneAsync(claim);
        Assert.Equal(ReplicaPresence.Tombstoned, await store.FindReplicaAsync(id));
        Assert.DoesNotContain(id, await store.ListReplicasAsync());
        var state = await store.LoadAsync(claim);
        Assert.Null(state.Snapshot);
        Assert.Empty(state.Entries);
        Assert.Equal(default, state.HardState);
        Assert.False(await store.CreateReplicaAsync(id, Founders));
        Assert.False(await store.CreateReplicaAsync(id, founders: null));
        Assert.Equal(ReplicaPresence.Tombstoned, await store.FindReplicaAsync(id));
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task An_initialized_replica_whose_state_is_gone_is_told_apart_from_a_new_one(StorageProvider provider)
    {
        var options = await StorageFixture.FreshAsync(provider);
        await using var store = await AdoReplicaStore.OpenAsync(options);
        var founder = StorageFixture.UniqueReplica("0/1");
        var learner = StorageFixture.UniqueReplica("0/5");
        await store.CreateReplicaAsync(founder, Founders);
        await store.CreateReplicaAsync(learner, founders: null);

        // Rows lost behind the store's back (a restored backup, a damaged file).
        await using (var connection = provider == StorageProvider.Sqlite
            ? (System.Data.Common.DbConnection)new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={options.SqlitePath}")
            : new Npgsql.NpgsqlConnection(options.ConnectionString))
        {
            await connection.OpenAsync();
            await using var command = connection.CreateCommand();
            command.CommandText = $"DELETE FROM ac_snapshot_meta WHERE replica_id = '{founder}'";
            await command.ExecuteNonQueryAsync();
        }

        // Both load empty; only the registry tells which one may start from nothing.
        foreach (var id in new[] { founder, learner })
        {
            var state = await store.LoadAsync(await store.ClaimAsync(id));
            Assert.Null(state.Snapshot);
            Assert.Empty(state.Entries);
        }

        Assert.Equal(ReplicaPresence.Initialized, await store.FindReplicaAsync(founder));
        Assert.Equal(ReplicaPresence.Created, await store.FindReplicaAsync(learner));
    }
}

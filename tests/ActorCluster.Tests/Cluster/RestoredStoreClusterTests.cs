using ActorCluster.Grains.Storage;
using ActorCluster.Tests.Storage;
using static ActorCluster.Tests.Cluster.ClusterAssertions;

namespace ActorCluster.Tests.Cluster;

/// <summary>
/// A store restored from a backup is not taken for current: its replicas' old state would forget
/// votes and acknowledgements. It is set aside and replaced, as a lost disk is; a whole cluster
/// restored from one backup starts on its stores.
/// </summary>
public sealed class RestoredStoreClusterTests
{
    [Fact]
    public async Task A_store_restored_from_a_backup_is_set_aside_and_its_replicas_are_replaced()
    {
        await using var test = await TestCluster.StartAsync(silos: 3, shards: 1, settings: TestCluster.FastFailureDetection);
        var client = test.Client;
        var acknowledged = await WriteAsync(client, "before", 10);
        var status = await SpreadLeaderOf(client, 0);
        var victim = status.Replicas.First(r => r.Replica != status.Leader);
        var silo = test.SiloOf(victim.Silo);
        var name = silo.Name;
        var backup = await test.BackUpStoreAsync(name);
        try
        {
            // The store moves on after the backup: more writes, and its incarnation is raised (as a
            // running silo does every 30 s).
            foreach (var (key, version) in await WriteAsync(client, "after", 10))
            {
                acknowledged[key] = version;
            }

            await test.Incarnations[name].RenewAsync();
            await test.Cluster.KillSiloAsync(silo);
            await test.RestoreStoreAsync(name, backup);
            await test.StartAgainAsync(silo);

            // The silo came back on a new, empty store; the backup's data is set aside, not loaded.
            var reopened = test.Incarnations[name];
            Assert.True(reopened.Identity.IsNew);
            Assert.NotEqual(victim.Store, reopened.Identity.StoreHex);
            Assert.NotNull(reopened.SetAside);
            Assert.True(File.Exists(Path.Combine(reopened.SetAside, "replicas.db")));

            // The group replaces the replica of the store it lost, and keeps every acknowledged write.
            await EventuallyAsync(async () =>
            {
                var now = await StatusOf(client, 0);
                return now.Leader != 0 && now.Replicas.Count == 3 && now.Replicas.All(r => r.Store != victim.Store && r.Role is "Leader" or "Follower");
            }, TimeSpan.FromSeconds(90), $"no member is left on the restored store {victim.Store}");
            foreach (var (key, version) in acknowledged)
            {
                Assert.Equal(version, (await client.GetAsync(key))!.Value.Version);
            }
        }
        finally
        {
            File.Delete(backup);
        }
    }

    [Fact]
    public async Task A_whole_cluster_restored_from_one_backup_starts_on_its_stores()
    {
        var storage = await StorageFixture.FreshAsync(StorageProvider.Sqlite);
        var backup = Path.Combine(Path.GetTempPath(), $"actorcluster-cluster-backup-{Guid.NewGuid():N}");
        try
        {
            Dictionary<string, ulong> acknowledged;
            Dictionary<string, ulong> lost;
            Dictionary<string, string> stores;
            await using (var first = await TestCluster.StartAsync(silos: 3, shards: 2, storage: storage))
            {
                acknowledged = await WriteAsync(first.Client, "kept", 20);
                stores = first.Incarnations.ToDictionary(i => i.Key, i => i.Value.Identity.StoreHex);
            }

            // The whole cluster stopped: metadata and every store copied as one backup.
            Copy(storage.DataDirectory, backup);
            await using (var second = await TestCluster.StartAsync(silos: 3, shards: 2, storage: storage))
            {
                lost = await WriteAsync(second.Client, "lost", 20);
                foreach (var incarnation in second.Incarnations.Values)
                {
                    await incarnation.RenewAsync();
                }
            }

            Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
            Directory.Delete(storage.DataDirectory, recursive: true);
            Copy(backup, storage.DataDirectory);
            await using (var restored = await TestCluster.StartAsync(silos: 3, shards: 2, storage: storage))
            {
                Assert.Equal(stores, restored.Incarnations.ToDictionary(i => i.Key, i => i.Value.Identity.StoreHex));
                Assert.All(restored.Incarnations.Values, i => Assert.Null(i.SetAside));
                foreach (var (key, version) in acknowledged)
                {
                    Assert.Equal(version, (await restored.Client.GetAsync(key))!.Value.Version);
                }

                // What was written after the backup went with it.
                foreach (var key in lost.Keys)
                {
                    Assert.Null(await restored.Client.GetAsync(key));
                }
            }

            // Stores restored under newer metadata (the restored cluster's starts raised the record
            // past the backup's stores): emptied as the README says, the stores start as they are.
            Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
            foreach (var silo in stores.Keys)
            {
                Directory.Delete(Path.Combine(storage.DataDirectory, silo), recursive: true);
                Copy(Path.Combine(backup, silo), Path.Combine(storage.DataDirectory, silo));
            }

            await using (var connection = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={storage.MetadataPath};Pooling=False"))
            {
                await connection.OpenAsync();
                await using var clear = connection.CreateCommand();
                clear.CommandText = "DELETE FROM ac_cluster_store";
                await clear.ExecuteNonQueryAsync();
            }

            await using (var again = await TestCluster.StartAsync(silos: 3, shards: 2, storage: storage))
            {
                Assert.Equal(stores, again.Incarnations.ToDictionary(i => i.Key, i => i.Value.Identity.StoreHex));
                Assert.Equal(acknowledged.First().Value, (await again.Client.GetAsync(acknowledged.First().Key))!.Value.Version);
            }
        }
        finally
        {
            if (Directory.Exists(backup))
            {
                Directory.Delete(backup, recursive: true);
            }
        }
    }

    private static void Copy(string from, string to)
    {
        Directory.CreateDirectory(to);
        foreach (var file in Directory.EnumerateFiles(from))
        {
            if (!Path.GetFileName(file).StartsWith(DataDirectoryLock.FileName, StringComparison.Ordinal))
            {
                File.Copy(file, Path.Combine(to, Path.GetFileName(file)));
            }
        }

        foreach (var directory in Directory.EnumerateDirectories(from))
        {
            Copy(directory, Path.Combine(to, Path.GetFileName(directory)));
        }
    }
}

namespace ActorCluster.Grains.Storage;

/// <summary>The SQLite schema: replica state, and the tables and queries Orleans' ADO.NET grain storage uses.</summary>
internal static class SqliteSchema
{
    public const string Replicas = """
        -- Which cluster this store belongs to and its id, assigned when the store is first used.
        CREATE TABLE IF NOT EXISTS ac_store_ident (
            cluster_id TEXT NOT NULL,
            store_id INTEGER NOT NULL,
            created_at TEXT NOT NULL
        );
        -- The store's incarnation: raised at every start and every so often while running, here
        -- first and then in the cluster's record (ac_cluster_store). A store whose incarnation is
        -- behind the record was restored from a backup, or copied: its state is not current.
        CREATE TABLE IF NOT EXISTS ac_store_incarnation (
            incarnation INTEGER NOT NULL
        );
        -- Cluster metadata (in the database the silos share): the newest incarnation each store
        -- reached, as far as the cluster heard.
        CREATE TABLE IF NOT EXISTS ac_cluster_store (
            store_id INTEGER NOT NULL PRIMARY KEY,
            incarnation INTEGER NOT NULL,
            updated_at TEXT NOT NULL
        );
        -- Which replicas this store holds (created by a founder bootstrap or for a new learner),
        -- and which it held once (tombstones: their ids are never used again). A replica that has
        -- stored anything is "initialized": finding its state empty later means it was lost.
        CREATE TABLE IF NOT EXISTS ac_replica_registry (
            replica_id TEXT NOT NULL PRIMARY KEY,
            status INTEGER NOT NULL,
            initialized INTEGER NOT NULL,
            created_at TEXT NOT NULL
        );
        CREATE TABLE IF NOT EXISTS ac_replica (
            replica_id TEXT NOT NULL PRIMARY KEY,
            epoch INTEGER NOT NULL,
            term INTEGER NOT NULL DEFAULT 0,
            vote INTEGER NOT NULL DEFAULT 0,
            commit_index INTEGER NOT NULL DEFAULT 0
        );
        -- Apart from the hard state (every write updates that row), and with the data in chunks of
        -- bounded size, written before the row that points at them: no snapshot is ever one huge
        -- row or one huge transaction.
        CREATE TABLE IF NOT EXISTS ac_snapshot_meta (
            replica_id TEXT NOT NULL PRIMARY KEY,
            snapshot_index INTEGER NOT NULL,
            snapshot_term INTEGER NOT NULL,
            snapshot_config BLOB NOT NULL,
            total_bytes INTEGER NOT NULL,
            chunk_count INTEGER NOT NULL,
            checksum INTEGER NOT NULL
        );
        CREATE TABLE IF NOT EXISTS ac_snapshot_chunk (
            replica_id TEXT NOT NULL,
            snapshot_index INTEGER NOT NULL,
            chunk_no INTEGER NOT NULL,
            data BLOB NOT NULL,
            PRIMARY KEY (replica_id, snapshot_index, chunk_no)
        ) WITHOUT ROWID;
        -- The single-row form of earlier versions is no longer read.
        DROP TABLE IF EXISTS ac_snapshot;
        CREATE TABLE IF NOT EXISTS ac_log (
            replica_id TEXT NOT NULL,
            idx INTEGER NOT NULL,
            term INTEGER NOT NULL,
            kind INTEGER NOT NULL,
            data BLOB NOT NULL,
            PRIMARY KEY (replica_id, idx)
        ) WITHOUT ROWID;
        """;

    /// <summary>
    /// Orleans' contract: a query table keyed by name, a storage table, and three queries whose
    /// parameter and column names Orleans binds. Versions give optimistic concurrency: a write
    /// with a stale version changes nothing and returns the old version, which Orleans turns into
    /// an InconsistentStateException.
    /// </summary>
    public const string OrleansPersistence = """
        CREATE TABLE IF NOT EXISTS OrleansQuery (
            QueryKey TEXT NOT NULL PRIMARY KEY,
            QueryText TEXT NOT NULL
        );
        CREATE TABLE IF NOT EXISTS OrleansStorage (
            GrainIdHash INTEGER NOT NULL,
            GrainIdN0 INTEGER NOT NULL,
            GrainIdN1 INTEGER NOT NULL,
            GrainTypeHash INTEGER NOT NULL,
            GrainTypeString TEXT NOT NULL,
            GrainIdExtensionString TEXT NOT NULL,
            ServiceId TEXT NOT NULL,
            PayloadBinary BLOB NULL,
            ModifiedOn TEXT NOT NULL,
            Version INTEGER NULL,
            PRIMARY KEY (GrainIdHash, GrainTypeHash, GrainIdN0, GrainIdN1, GrainTypeString, GrainIdExtensionString, ServiceId)
        );
        INSERT INTO OrleansQuery (QueryKey, QueryText) VALUES ('WriteToStorageKey', '
            INSERT INTO OrleansStorage (GrainIdHash, GrainIdN0, GrainIdN1, GrainTypeHash, GrainTypeString, GrainIdExtensionString, ServiceId, PayloadBinary, ModifiedOn, Version)
            SELECT @GrainIdHash, @GrainIdN0, @GrainIdN1, @GrainTypeHash, @GrainTypeString, COALESCE(@GrainIdExtensionString, ''''), @ServiceId, @PayloadBinary, datetime(''now''), 1
            WHERE @GrainStateVersion IS NULL OR EXISTS (
                SELECT 1 FROM OrleansStorage
                WHERE GrainIdHash = @GrainIdHash AND GrainTypeHash = @GrainTypeHash AND GrainIdN0 = @GrainIdN0 AND GrainIdN1 = @GrainIdN1
                  AND GrainTypeString = @GrainTypeString AND GrainIdExtensionString = COALESCE(@GrainIdExtensionString, '''') AND ServiceId = @ServiceId)
            ON CONFLICT (GrainIdHash, GrainTypeHash, GrainIdN0, GrainIdN1, GrainTypeString, GrainIdExtensionString, ServiceId) DO UPDATE
            SET PayloadBinary = excluded.PayloadBinary, ModifiedOn = excluded.ModifiedOn, Version = OrleansStorage.Version + 1
            WHERE @GrainStateVersion IS NOT NULL AND OrleansStorage.Version = @GrainStateVersion;
            SELECT COALESCE(@GrainStateVersion, 0) + 1 AS NewGrainStateVersion WHERE changes() > 0
            UNION ALL
            SELECT @GrainStateVersion AS NewGrainStateVersion WHERE changes() = 0 AND @GrainStateVersion IS NOT NULL;')
        ON CONFLICT (QueryKey) DO UPDATE SET QueryText = excluded.QueryText;
        INSERT INTO OrleansQuery (QueryKey, QueryText) VALUES ('ReadFromStorageKey', '
            SELECT PayloadBinary, Version FROM OrleansStorage
            WHERE GrainIdHash = @GrainIdHash AND GrainTypeHash = @GrainTypeHash AND GrainIdN0 = @GrainIdN0 AND GrainIdN1 = @GrainIdN1
              AND GrainTypeString = @GrainTypeString AND GrainIdExtensionString = COALESCE(@GrainIdExtensionString, '''') AND ServiceId = @ServiceId
            LIMIT 1;')
        ON CONFLICT (QueryKey) DO UPDATE SET QueryText = excluded.QueryText;
        INSERT INTO OrleansQuery (QueryKey, QueryText) VALUES ('ClearStorageKey', '
            UPDATE OrleansStorage SET PayloadBinary = NULL, ModifiedOn = datetime(''now''), Version = Version + 1
            WHERE Version = @GrainStateVersion
              AND GrainIdHash = @GrainIdHash AND GrainTypeHash = @GrainTypeHash AND GrainIdN0 = @GrainIdN0 AND GrainIdN1 = @GrainIdN1
              AND GrainTypeString = @GrainTypeString AND GrainIdExtensionString = COALESCE(@GrainIdExtensionString, '''') AND ServiceId = @ServiceId;
            SELECT @GrainStateVersion + 1 AS NewGrainStateVersion WHERE changes() > 0
            UNION ALL
            SELECT @GrainStateVersion AS NewGrainStateVersion WHERE changes() = 0 AND @GrainStateVersion IS NOT NULL;')
        ON CONFLICT (QueryKey) DO UPDATE SET QueryText = excluded.QueryText;
        """;
}

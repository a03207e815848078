namespace ActorCluster.Grains.Storage;

/// <summary>
/// The PostgreSQL schema: replica state, and the tables, functions and queries of Orleans'
/// ADO.NET grain storage and clustering, to the parameters Orleans 10.4 binds (binary payloads only;
/// membership writes bind no metadata, reads return a MetadataJson column). A query that names a
/// parameter Orleans does not bind fails: PostgreSQL reads "@Name" as an operator on a column.
/// Every statement is idempotent so that any silo may apply it at start-up.
/// </summary>
internal static class PostgresSchema
{
    public const string Replicas = """
        CREATE TABLE IF NOT EXISTS ac_store_ident (
            cluster_id TEXT NOT NULL,
            store_id BIGINT NOT NULL,
            created_at TEXT NOT NULL
        );
        -- The store's incarnation: raised at every start and every so often while running, here
        -- first and then in the cluster's record (ac_cluster_store). A store whose incarnation is
        -- behind the record was restored from a backup, or copied: its state is not current.
        CREATE TABLE IF NOT EXISTS ac_store_incarnation (
            incarnation BIGINT NOT NULL
        );
        -- Cluster metadata (in the database the silos share): the newest incarnation each store
        -- reached, as far as the cluster heard.
        CREATE TABLE IF NOT EXISTS ac_cluster_store (
            store_id BIGINT NOT NULL PRIMARY KEY,
            incarnation BIGINT NOT NULL,
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
            replica_id varchar(200) NOT NULL PRIMARY KEY,
            epoch bigint NOT NULL,
            term bigint NOT NULL DEFAULT 0,
            vote bigint NOT NULL DEFAULT 0,
            commit_index bigint NOT NULL DEFAULT 0
        );
        -- Apart from the hard state (every write updates that row), and with the data in chunks of
        -- bounded size, written before the row that points at them: no snapshot is ever one huge
        -- row or one huge transaction.
        CREATE TABLE IF NOT EXISTS ac_snapshot_meta (
            replica_id varchar(200) NOT NULL PRIMARY KEY,
            snapshot_index bigint NOT NULL,
            snapshot_term bigint NOT NULL,
            snapshot_config bytea NOT NULL,
            total_bytes bigint NOT NULL,
            chunk_count integer NOT NULL,
            checksum bigint NOT NULL
        );
        CREATE TABLE IF NOT EXISTS ac_snapshot_chunk (
            replica_id varchar(200) NOT NULL,
            snapshot_index bigint NOT NULL,
            chunk_no integer NOT NULL,
            data bytea NOT NULL,
            PRIMARY KEY (replica_id, snapshot_index, chunk_no)
        );
        -- The single-row form of earlier versions is no longer read.
        DROP TABLE IF EXISTS ac_snapshot;
        CREATE TABLE IF NOT EXISTS ac_log (
            replica_id varchar(200) NOT NULL,
            idx bigint NOT NULL,
            term bigint NOT NULL,
            kind smallint NOT NULL,
            data bytea NOT NULL,
            PRIMARY KEY (replica_id, idx)
        );
        """;

    public const string OrleansQueries = """
        CREATE TABLE IF NOT EXISTS OrleansQuery (
            QueryKey varchar(64) NOT NULL PRIMARY KEY,
            QueryText varchar(8000) NOT NULL
        );
        """;

    public const string OrleansPersistence = """
        CREATE TABLE IF NOT EXISTS OrleansStorage (
            GrainIdHash integer NOT NULL,
            GrainIdN0 bigint NOT NULL,
            GrainIdN1 bigint NOT NULL,
            GrainTypeHash integer NOT NULL,
            GrainTypeString varchar(512) NOT NULL,
            GrainIdExtensionString varchar(512) NOT NULL,
            ServiceId varchar(150) NOT NULL,
            PayloadBinary bytea NULL,
            ModifiedOn timestamp NOT NULL,
            Version integer NULL,
            PRIMARY KEY (GrainIdHash, GrainTypeHash, GrainIdN0, GrainIdN1, GrainTypeString, GrainIdExtensionString, ServiceId)
        );

        -- Optimistic concurrency: a write succeeds only at the version it read (or, first time, when
        -- no row exists) and returns the new version; otherwise it returns the old one (or null).
        CREATE OR REPLACE FUNCTION ac_orleans_write(
            _hash integer, _n0 bigint, _n1 bigint, _type_hash integer, _type varchar,
            _extension varchar, _service varchar, _version integer, _payload bytea)
        RETURNS TABLE(NewGrainStateVersion integer) LANGUAGE plpgsql AS $fn$
        DECLARE
            _rows integer;
        BEGIN
            IF _version IS NULL THEN
                INSERT INTO OrleansStorage (GrainIdHash, GrainIdN0, GrainIdN1, GrainTypeHash, GrainTypeString, GrainIdExtensionString, ServiceId, PayloadBinary, ModifiedOn, Version)
                VALUES (_hash, _n0, _n1, _type_hash, _type, COALESCE(_extension, ''), _service, _payload, now() AT TIME ZONE 'utc', 1)
                ON CONFLICT DO NOTHING;
            ELSE
                UPDATE OrleansStorage
                SET PayloadBinary = _payload, ModifiedOn = now() AT TIME ZONE 'utc', Version = Version + 1
                WHERE GrainIdHash = _hash AND GrainTypeHash = _type_hash AND GrainIdN0 = _n0 AND GrainIdN1 = _n1
                  AND GrainTypeString = _type AND GrainIdExtensionString = COALESCE(_extension, '') AND ServiceId = _service
                  AND Version = _version;
            END IF;
            GET DIAGNOSTICS _rows = ROW_COUNT;
            RETURN QUERY SELECT CASE WHEN _rows > 0 THEN COALESCE(_version, 0) + 1 ELSE _version END;
        END
        $fn$;

        INSERT INTO OrleansQuery (QueryKey, QueryText) VALUES ('WriteToStorageKey', $q$
            SELECT * FROM ac_orleans_write(@GrainIdHash, @GrainIdN0, @GrainIdN1, @GrainTypeHash, @GrainTypeString,
                @GrainIdExtensionString::varchar, @ServiceId, @GrainStateVersion::integer, @PayloadBinary::bytea);
        $q$) ON CONFLICT (QueryKey) DO UPDATE SET QueryText = excluded.QueryText;

        INSERT INTO OrleansQuery (QueryKey, QueryText) VALUES ('ReadFromStorageKey', $q$
            SELECT PayloadBinary, Version FROM OrleansStorage
            WHERE GrainIdHash = @GrainIdHash AND GrainTypeHash = @GrainTypeHash AND GrainIdN0 = @GrainIdN0 AND GrainIdN1 = @GrainIdN1
              AND GrainTypeString = @GrainTypeString AND GrainIdExtensionString = COALESCE(@GrainIdExtensionString::varchar, '')
              AND ServiceId = @ServiceId;
        $q$) ON CONFLICT (QueryKey) DO UPDATE SET QueryText = excluded.QueryText;

        INSERT INTO OrleansQuery (QueryKey, QueryText) VALUES ('ClearStorageKey', $q$
            WITH cleared AS (
                UPDATE OrleansStorage SET PayloadBinary = NULL, ModifiedOn = now() AT TIME ZONE 'utc', Version = Version + 1
                WHERE GrainIdHash = @GrainIdHash AND GrainTypeHash = @GrainTypeHash AND GrainIdN0 = @GrainIdN0 AND GrainIdN1 = @GrainIdN1
                  AND GrainTypeString = @GrainTypeString AND GrainIdExtensionString = COALESCE(@GrainIdExtensionString::varchar, '')
                  AND ServiceId = @ServiceId AND Version = @GrainStateVersion::integer
                RETURNING Version)
            SELECT COALESCE((SELECT Version FROM cleared), @GrainStateVersion::integer) AS NewGrainStateVersion;
        $q$) ON CONFLICT (QueryKey) DO UPDATE SET QueryText = excluded.QueryText;
        """;

    public const string OrleansClustering = """
        CREATE TABLE IF NOT EXISTS OrleansMembershipVersionTable (
            DeploymentId varchar(150) NOT NULL PRIMARY KEY,
            Timestamp timestamptz(3) NOT NULL DEFAULT now(),
            Version integer NOT NULL DEFAULT 0
        );
        CREATE TABLE IF NOT EXISTS OrleansMembershipTable (
            DeploymentId varchar(150) NOT NULL REFERENCES OrleansMembershipVersionTable (DeploymentId),
            Address varchar(45) NOT NULL,
            Port integer NOT NULL,
            Generation integer NOT NULL,
            SiloName varchar(150) NOT NULL,
            HostName varchar(150) NOT NULL,
            Status integer NOT NULL,
            ProxyPort integer NULL,
            SuspectTimes varchar(8000) NULL,
            MetadataJson text NULL,
            StartTime timestamptz(3) NOT NULL,
            IAmAliveTime timestamptz(3) NOT NULL,
            PRIMARY KEY (DeploymentId, Address, Port, Generation)
        );

        -- Membership writes bump the table version only if it is the one the silo read, and roll
        -- the bump back when the row write fails: 1 means written, 0 means "read again and retry".
        CREATE OR REPLACE FUNCTION ac_membership_insert(
            _deployment varchar, _address varchar, _port integer, _generation integer, _silo varchar, _host varchar,
            _status integer, _proxy integer, _start timestamptz, _alive timestamptz, _version integer)
        RETURNS integer LANGUAGE plpgsql AS $fn$
        BEGIN
            BEGIN
                UPDATE OrleansMembershipVersionTable SET Version = Version + 1, Timestamp = now()
                WHERE DeploymentId = _deployment AND Version = _version;
                IF NOT FOUND THEN
                    RETURN 0;
                END IF;
                INSERT INTO OrleansMembershipTable (DeploymentId, Address, Port, Generation, SiloName, HostName, Status, ProxyPort, StartTime, IAmAliveTime)
                VALUES (_deployment, _address, _port, _generation, _silo, _host, _status, _proxy, _start, _alive)
                ON CONFLICT DO NOTHING;
                IF NOT FOUND THEN
                    RAISE EXCEPTION 'membership row exists';
                END IF;
                RETURN 1;
            EXCEPTION WHEN raise_exception THEN
                RETURN 0;
            END;
        END
        $fn$;

        CREATE OR REPLACE FUNCTION ac_membership_update(
            _deployment varchar, _address varchar, _port integer, _generation integer, _status integer,
            _suspect varchar, _alive timestamptz, _version integer)
        RETURNS integer LANGUAGE plpgsql AS $fn$
        BEGIN
            BEGIN
                UPDATE OrleansMembershipVersionTable SET Version = Version + 1, Timestamp = now()
                WHERE DeploymentId = _deployment AND Version = _version;
                IF NOT FOUND THEN
                    RETURN 0;
                END IF;
                UPDATE OrleansMembershipTable
                SET Status = _status, SuspectTimes = _suspect, IAmAliveTime = GREATEST(IAmAliveTime, _alive)
                WHERE DeploymentId = _deployment AND Address = _address AND Port = _port AND Generation = _generation;
                IF NOT FOUND THEN
                    RAISE EXCEPTION 'membership row missing';
                END IF;
                RETURN 1;
            EXCEPTION WHEN raise_exception THEN
                RETURN 0;
            END;
        END
        $fn$;

        INSERT INTO OrleansQuery (QueryKey, QueryText) VALUES
        ('InsertMembershipVersionKey', $q$
            WITH inserted AS (
                INSERT INTO OrleansMembershipVersionTable (DeploymentId) VALUES (@DeploymentId)
                ON CONFLICT DO NOTHING RETURNING 1)
            SELECT COUNT(*)::integer AS row_count FROM inserted;
        $q$),
        ('InsertMembershipKey', $q$
            SELECT ac_membership_insert(@DeploymentId, @Address, @Port, @Generation, @SiloName, @HostName, @Status, @ProxyPort,
                @StartTime, @IAmAliveTime, @Version) AS row_count;
        $q$),
        ('UpdateMembershipKey', $q$
            SELECT ac_membership_update(@DeploymentId, @Address, @Port, @Generation, @Status, @SuspectTimes::varchar,
                @IAmAliveTime, @Version) AS row_count;
        $q$),
        ('UpdateIAmAlivetimeKey', $q$
            UPDATE OrleansMembershipTable SET IAmAliveTime = GREATEST(IAmAliveTime, @IAmAliveTime)
            WHERE DeploymentId = @DeploymentId AND Address = @Address AND Port = @Port AND Generation = @Generation;
        $q$),
        ('MembershipReadRowKey', $q$
            SELECT v.DeploymentId, m.Address, m.Port, m.Generation, m.SiloName, m.HostName, m.Status, m.ProxyPort,
                   m.SuspectTimes, m.MetadataJson, m.StartTime, m.IAmAliveTime, v.Version
            FROM OrleansMembershipVersionTable v
            LEFT OUTER JOIN OrleansMembershipTable m ON v.DeploymentId = m.DeploymentId
                AND m.Address = @Address AND m.Port = @Port AND m.Generation = @Generation
            WHERE v.DeploymentId = @DeploymentId;
        $q$),
        ('MembershipReadAllKey', $q$
            SELECT v.DeploymentId, m.Address, m.Port, m.Generation, m.SiloName, m.HostName, m.Status, m.ProxyPort,
                   m.SuspectTimes, m.MetadataJson, m.StartTime, m.IAmAliveTime, v.Version
            FROM OrleansMembershipVersionTable v
            LEFT OUTER JOIN OrleansMembershipTable m ON v.DeploymentId = m.DeploymentId
            WHERE v.DeploymentId = @DeploymentId;
        $q$),
        ('DeleteMembershipTableEntriesKey', $q$
            DELETE FROM OrleansMembershipTable WHERE DeploymentId = @DeploymentId;
            DELETE FROM OrleansMembershipVersionTable WHERE DeploymentId = @DeploymentId;
        $q$),
        ('GatewaysQueryKey', $q$
            SELECT Address, ProxyPort, Generation FROM OrleansMembershipTable
            WHERE DeploymentId = @DeploymentId AND Status = @Status AND ProxyPort > 0;
        $q$),
        ('CleanupDefunctSiloEntriesKey', $q$
            DELETE FROM OrleansMembershipTable
            WHERE DeploymentId = @DeploymentId AND IAmAliveTime < @IAmAliveTime AND Status = 6;
        $q$),
        ('CleanupDefunctSiloEntryKey', $q$
            DELETE FROM OrleansMembershipTable
            WHERE DeploymentId = @DeploymentId AND Address = @Address AND Port = @Port AND Generation = @Generation AND Status = 6;
        $q$)
        ON CONFLICT (QueryKey) DO UPDATE SET QueryText = excluded.QueryText;
        """;
}

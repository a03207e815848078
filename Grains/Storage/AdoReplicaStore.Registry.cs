using System.Globalization;
using ActorCluster.Grains.Raft;

namespace ActorCluster.Grains.Storage;

/// <summary>What a store knows of a replica id.</summary>
public enum ReplicaPresence : byte
{
    /// <summary>Never created here: a replica must not make itself up (it would vote with an empty log).</summary>
    Missing = 0,

    /// <summary>Created (a learner that has stored nothing yet): empty state is expected.</summary>
    Created = 1,

    /// <summary>Created and has stored state: if that state is gone now, the replica lost it.</summary>
    Initialized = 2,

    /// <summary>Removed from its group: gone for good, its messages dropped.</summary>
    Tombstoned = 3,
}

/// <summary>
/// The registry of replicas a store holds. Nothing creates a replica implicitly: a founder is
/// created with its bootstrap configuration, a learner empty, each exactly once; a removed replica
/// leaves a tombstone. So a replica can tell "new" from "lost": state missing for a replica that was
/// initialized means the disk lost it, and such a replica must never vote or acknowledge.
/// </summary>
public sealed partial class AdoReplicaStore
{
    /// <summary>
    /// Creates <paramref name="replicaId"/> on this store: with <paramref name="founders"/> as a founder
    /// of a new group (its bootstrap configuration stored at once, so it is initialized), otherwise
    /// as an empty learner. False when the id was created here before (live or tombstoned): nothing
    /// changes, so a repeated create is harmless and a removed id never comes back.
    /// </summary>
    public Task<bool> CreateReplicaAsync(string replicaId, ClusterConfig? founders, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(replicaId);
        var operation = new RegistryOperation(replicaId, RegistryChange.Create, founders);
        Enqueue(operation);
        return operation.Completion.Task.WaitAsync(cancellationToken);
    }

    /// <summary>Records that the replica has stored state (once, after its first write).</summary>
    public Task MarkInitializedAsync(string replicaId, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(replicaId);
        var operation = new RegistryOperation(replicaId, RegistryChange.MarkInitialized, null);
        Enqueue(operation);
        return operation.Completion.Task.WaitAsync(cancellationToken);
    }

    /// <summary>
    /// Tombstones a removed replica: its log, hard state and snapshot are deleted and its id is kept
    /// as removed, so nothing can create it again. Fenced like a write.
    /// </summary>
    /// <exception cref="ReplicaFencedException">A newer activation claimed the replica; nothing changed.</exception>
    public Task TombstoneAsync(ReplicaClaim claim, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(claim);
        var operation = new RegistryOperation(claim.ReplicaId, RegistryChange.Tombstone, null, claim);
        Enqueue(operation);
        return operation.Completion.Task.WaitAsync(cancellationToken);
    }

    /// <summary>What this store knows of <paramref name="replicaId"/>.</summary>
    public async Task<ReplicaPresence> FindReplicaAsync(string replicaId, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(replicaId);
        var connection = await _dialect.OpenAsync(cancellationToken).ConfigureAwait(false);
        await using (connection.ConfigureAwait(false))
        {
            await using var command = SqlDialect.Command(connection, null, "SELECT status, initialized FROM ac_replica_registry WHERE replica_id = @id");
            command.Add("id", replicaId);
            await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            if (!await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                return ReplicaPresence.Missing;
            }

            return reader.GetInt64(0) != 0 ? ReplicaPresence.Tombstoned
                : reader.GetInt64(1) != 0 ? ReplicaPresence.Initialized
                : ReplicaPresence.Created;
        }
    }

    /// <summary>The live replicas this store holds (what a starting silo activates).</summary>
    public async Task<IReadOnlyList<string>> ListReplicasAsync(CancellationToken cancellationToken = default)
    {
        var connection = await _dialect.OpenAsync(cancellationToken).ConfigureAwait(false);
        await using (connection.ConfigureAwait(false))
        {
            await using var command = SqlDialect.Command(connection, null, "SELECT replica_id FROM ac_replica_registry WHERE status = 0 ORDER BY replica_id");
            await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            var ids = new List<string>();
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                ids.Add(reader.GetString(0));
            }

            return ids;
        }
    }

    private enum RegistryChange : byte
    {
        Create,
        MarkInitialized,
        Tombstone,
    }

    private sealed class RegistryOperation(string replicaId, RegistryChange change, ClusterConfig? founders, ReplicaClaim? claim = null) : PendingOperation(replicaId)
    {
        private bool _created;
        private bool _fenced;

        public TaskCompletionSource<bool> Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public override async Task ExecuteAsync(AdoReplicaStore store, WriterSession session)
        {
            switch (change)
            {
                case RegistryChange.Create:
                    await CreateAsync(session).ConfigureAwait(false);
                    break;
                case RegistryChange.MarkInitialized:
                    var mark = session.Command("UPDATE ac_replica_registry SET initialized = 1 WHERE replica_id = @id AND initialized = 0");
                    mark.Set("id", ReplicaId);
                    await mark.ExecuteNonQueryAsync().ConfigureAwait(false);
                    break;
                default:
                    if (!await WriteOperation.FenceAsync(session, claim!, hardState: null).ConfigureAwait(false))
                    {
                        _fenced = true;
                        return;
                    }

                    foreach (var table in new[] { "ac_log", "ac_snapshot_chunk", "ac_snapshot_meta" })
                    {
                        var delete = session.Command($"DELETE FROM {table} WHERE replica_id = @id");
                        delete.Set("id", ReplicaId);
                        await delete.ExecuteNonQueryAsync().ConfigureAwait(false);
                    }

                    var state = session.Command("UPDATE ac_replica SET term = 0, vote = 0, commit_index = 0 WHERE replica_id = @id");
                    state.Set("id", ReplicaId);
                    await state.ExecuteNonQueryAsync().ConfigureAwait(false);
                    var tombstone = session.Command("UPDATE ac_replica_registry SET status = 1 WHERE replica_id = @id");
                    tombstone.Set("id", ReplicaId);
                    await tombstone.ExecuteNonQueryAsync().ConfigureAwait(false);
                    break;
            }
        }

        private async Task CreateAsync(WriterSession session)
        {
            var insert = session.Command(
                "INSERT INTO ac_replica_registry (replica_id, status, initialized, created_at) VALUES (@id, 0, @initialized, @at) ON CONFLICT (replica_id) DO NOTHING");
            insert.Set("id", ReplicaId);
            insert.Set("initialized", founders is null ? 0L : 1L);
            insert.Set("at", DateTime.UtcNow.ToString("O", CultureInfo.InvariantCulture));
            _created = await insert.ExecuteNonQueryAsync().ConfigureAwait(false) == 1;
            if (!_created || founders is null)
            {
                return;
            }

            // A founder's bootstrap: the group's first configuration as an empty snapshot at index 0
            // (what the core's Bootstrap hands the driver to persist), stored with the registration.
            var meta = session.Command(
                "INSERT INTO ac_snapshot_meta (replica_id, snapshot_index, snapshot_term, snapshot_config, total_bytes, chunk_count, checksum) " +
                "VALUES (@id, 0, 0, @config, 0, 0, @checksum)");
            meta.Set("id", ReplicaId);
            meta.Set("config", founders.Encode());
            meta.Set("checksum", (long)System.IO.Hashing.XxHash64.HashToUInt64([]));
            await meta.ExecuteNonQueryAsync().ConfigureAwait(false);
        }

        public override void Complete()
        {
            if (_fenced)
            {
                Completion.TrySetException(new ReplicaFencedException($"Replica {ReplicaId} was claimed by a newer activation than epoch {claim!.Epoch}."));
            }
            else
            {
                Completion.TrySetResult(_created);
            }
        }

        public override void Fail(Exception error) => Completion.TrySetException(error);
    }
}

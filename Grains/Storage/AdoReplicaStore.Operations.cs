using System.Data.Common;
using ActorCluster.Grains.Raft;

namespace ActorCluster.Grains.Storage;

/// <summary>The operations a writer runs inside its batch transaction, and the read path.</summary>
public sealed partial class AdoReplicaStore
{
    private static async Task<RaftStorageState> ReadReplicaAsync(DbConnection connection, ReplicaClaim claim, CancellationToken cancellationToken)
    {
        HardState hardState;
        await using (var command = SqlDialect.Command(connection, null, "SELECT epoch, term, vote, commit_index FROM ac_replica WHERE replica_id = @id"))
        {
            command.Add("id", claim.ReplicaId);
            await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            if (!await reader.ReadAsync(cancellationToken).ConfigureAwait(false) || reader.GetInt64(0) != claim.Epoch)
            {
                throw new ReplicaFencedException($"Replica {claim.ReplicaId} was claimed by a newer activation than epoch {claim.Epoch}.");
            }

            hardState = new HardState((ulong)reader.GetInt64(1), (ulong)reader.GetInt64(2), (ulong)reader.GetInt64(3));
        }

        Snapshot? snapshot = null;
        await using (var command = SqlDialect.Command(connection, null, "SELECT snapshot_index, snapshot_term, snapshot_config, snapshot_data FROM ac_snapshot WHERE replica_id = @id"))
        {
            command.Add("id", claim.ReplicaId);
            await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            if (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                var metadata = new SnapshotMetadata((ulong)reader.GetInt64(0), (ulong)reader.GetInt64(1), ClusterConfig.Decode((byte[])reader.GetValue(2)));
                snapshot = new Snapshot(metadata, (byte[])reader.GetValue(3));
            }
        }

        var entries = new List<Entry>();
        var offset = snapshot?.Index ?? 0;
        await using (var command = SqlDialect.Command(connection, null, "SELECT idx, term, kind, data FROM ac_log WHERE replica_id = @id AND idx > @after ORDER BY idx"))
        {
            command.Add("id", claim.ReplicaId);
            command.Add("after", (long)offset);
            await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                var index = (ulong)reader.GetInt64(0);
                if (index != offset + (ulong)entries.Count + 1)
                {
                    throw new InvalidDataException($"Replica {claim.ReplicaId}: stored log has a gap before index {index}.");
                }

                entries.Add(new Entry(index, (ulong)reader.GetInt64(1), (EntryType)reader.GetInt16(2), (byte[])reader.GetValue(3)));
            }
        }

        var commit = Math.Min(hardState.Commit, offset + (ulong)entries.Count);
        return new RaftStorageState(hardState with { Commit = commit }, snapshot, entries, snapshot?.Index ?? 0);
    }

    private abstract class PendingOperation(string replicaId)
    {
        public string ReplicaId { get; } = replicaId;

        public abstract Task ExecuteAsync(AdoReplicaStore store, WriterSession session);

        public abstract void Complete();

        public abstract void Fail(Exception error);
    }

    private sealed class ClaimOperation(string replicaId) : PendingOperation(replicaId)
    {
        private long _epoch;

        public TaskCompletionSource<ReplicaClaim> Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public override async Task ExecuteAsync(AdoReplicaStore store, WriterSession session)
        {
            var command = session.Command(
                "INSERT INTO ac_replica (replica_id, epoch) VALUES (@id, 1) " +
                "ON CONFLICT (replica_id) DO UPDATE SET epoch = ac_replica.epoch + 1 RETURNING epoch");
            command.Set("id", ReplicaId);
            _epoch = Convert.ToInt64(await command.ExecuteScalarAsync().ConfigureAwait(false), System.Globalization.CultureInfo.InvariantCulture);
        }

        public override void Complete() => Completion.TrySetResult(new ReplicaClaim(ReplicaId, _epoch));

        public override void Fail(Exception error) => Completion.TrySetException(error);
    }

    private sealed class CompositeOperation(WriteOperation[] parts) : PendingOperation(parts[0].ReplicaId)
    {
        public TaskCompletionSource Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public override async Task ExecuteAsync(AdoReplicaStore store, WriterSession session)
        {
            foreach (var part in parts)
            {
                await part.ExecuteAsync(store, session).ConfigureAwait(false);
            }
        }

        public override void Complete()
        {
            foreach (var part in parts)
            {
                part.Complete();
            }

            Task.WhenAll(parts.Select(p => p.Completion.Task)).ContinueWith(
                t => _ = t.IsFaulted ? Completion.TrySetException(t.Exception!.InnerExceptions) : Completion.TrySetResult(),
                TaskScheduler.Default);
        }

        public override void Fail(Exception error)
        {
            foreach (var part in parts)
            {
                part.Fail(error);
            }

            Completion.TrySetException(error);
        }
    }

    private sealed class WriteOperation(ReplicaClaim claim, ReplicaWrite write) : PendingOperation(claim.ReplicaId)
    {
        private bool _fenced;

        public TaskCompletionSource Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public override async Task ExecuteAsync(AdoReplicaStore store, WriterSession session)
        {
            store._faults?.BeforeWrite(ReplicaId);
            if (!await FenceAsync(session).ConfigureAwait(false))
            {
                // A newer activation owns the replica: write nothing, let the others in the batch commit.
                _fenced = true;
                return;
            }

            if (write.Snapshot is { } snapshot)
            {
                var command = session.Command(
                    "INSERT INTO ac_snapshot (replica_id, snapshot_index, snapshot_term, snapshot_config, snapshot_data) VALUES (@id, @index, @term, @config, @data) " +
                    "ON CONFLICT (replica_id) DO UPDATE SET snapshot_index = excluded.snapshot_index, snapshot_term = excluded.snapshot_term, " +
                    "snapshot_config = excluded.snapshot_config, snapshot_data = excluded.snapshot_data");
                command.Set("id", ReplicaId);
                command.Set("index", (long)snapshot.Index);
                command.Set("term", (long)snapshot.Term);
                command.Set("config", snapshot.Metadata.Config.Encode());
                command.Set("data", snapshot.Data);
                await command.ExecuteNonQueryAsync().ConfigureAwait(false);
                await DeleteEntriesAsync(session, write.SnapshotReplacesLog ? "" : " AND idx <= @index", (long)snapshot.Index).ConfigureAwait(false);
            }

            if (write.Entries.Length > 0)
            {
                if (write.MayOverwrite)
                {
                    await DeleteEntriesAsync(session, " AND idx >= @index", (long)write.Entries[0].Index).ConfigureAwait(false);
                }

                await store._dialect.InsertEntriesAsync(session, ReplicaId, write.Entries).ConfigureAwait(false);
            }

            if (write.CompactThrough > 0)
            {
                await DeleteEntriesAsync(session, " AND idx <= @index", (long)write.CompactThrough).ConfigureAwait(false);
            }
        }

        public override void Complete()
        {
            if (_fenced)
            {
                Completion.TrySetException(new ReplicaFencedException($"Replica {ReplicaId} was claimed by a newer activation than epoch {claim.Epoch}."));
            }
            else
            {
                Completion.TrySetResult();
            }
        }

        public override void Fail(Exception error) => Completion.TrySetException(error);

        /// <summary>Writes the hard state (or touches the row) only if the claim's epoch is still current.</summary>
        private async Task<bool> FenceAsync(WriterSession session)
        {
            var hardState = write.HardState;
            var command = session.Command(hardState is null
                ? "UPDATE ac_replica SET epoch = epoch WHERE replica_id = @id AND epoch = @epoch"
                : "UPDATE ac_replica SET term = @term, vote = @vote, commit_index = @commit WHERE replica_id = @id AND epoch = @epoch");
            command.Set("id", ReplicaId);
            command.Set("epoch", claim.Epoch);
            if (hardState is { } state)
            {
                command.Set("term", (long)state.Term);
                command.Set("vote", (long)state.Vote);
                command.Set("commit", (long)state.Commit);
            }

            return await command.ExecuteNonQueryAsync().ConfigureAwait(false) == 1;
        }

        private async Task DeleteEntriesAsync(WriterSession session, string condition, long index)
        {
            var command = session.Command("DELETE FROM ac_log WHERE replica_id = @id" + condition);
            command.Set("id", ReplicaId);
            if (condition.Length > 0)
            {
                command.Set("index", index);
            }

            await command.ExecuteNonQueryAsync().ConfigureAwait(false);
        }
    }
}

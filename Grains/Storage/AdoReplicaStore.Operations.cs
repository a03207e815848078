using System.Data.Common;
using System.IO.Hashing;
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

        var snapshot = await ReadSnapshotAsync(connection, claim.ReplicaId, cancellationToken).ConfigureAwait(false);
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

    /// <summary>The snapshot the metadata row points at, put together from its chunks and checked.</summary>
    private static async Task<Snapshot?> ReadSnapshotAsync(DbConnection connection, string replicaId, CancellationToken cancellationToken)
    {
        SnapshotMetadata metadata;
        long total;
        int chunks;
        long checksum;
        await using (var command = SqlDialect.Command(connection, null, "SELECT snapshot_index, snapshot_term, snapshot_config, total_bytes, chunk_count, checksum FROM ac_snapshot_meta WHERE replica_id = @id"))
        {
            command.Add("id", replicaId);
            await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            if (!await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                return null;
            }

            metadata = new SnapshotMetadata((ulong)reader.GetInt64(0), (ulong)reader.GetInt64(1), ClusterConfig.Decode((byte[])reader.GetValue(2)));
            (total, chunks, checksum) = (reader.GetInt64(3), reader.GetInt32(4), reader.GetInt64(5));
        }

        var data = new byte[total];
        var offset = 0L;
        var seen = 0;
        await using (var command = SqlDialect.Command(connection, null, "SELECT chunk_no, data FROM ac_snapshot_chunk WHERE replica_id = @id AND snapshot_index = @index ORDER BY chunk_no"))
        {
            command.Add("id", replicaId);
            command.Add("index", (long)metadata.Index);
            await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                var chunk = (byte[])reader.GetValue(1);
                if (reader.GetInt32(0) != seen || offset + chunk.Length > total)
                {
                    throw new InvalidDataException($"Replica {replicaId}: snapshot {metadata.Index} has a missing or misplaced chunk {seen}.");
                }

                chunk.CopyTo(data, offset);
                offset += chunk.Length;
                seen++;
            }
        }

        if (seen != chunks || offset != total || (long)XxHash64.HashToUInt64(data) != checksum)
        {
            throw new InvalidDataException($"Replica {replicaId}: snapshot {metadata.Index} is damaged ({seen} of {chunks} chunks, {offset} of {total} bytes, or a wrong checksum).");
        }

        return new Snapshot(metadata, data);
    }

    private abstract class PendingOperation(string replicaId)
    {
        public string ReplicaId { get; } = replicaId;

        /// <summary>Queue order, which one replica's writes keep within a batch.</summary>
        public long Sequence { get; set; }

        /// <summary>Payload bytes, for the batch's byte budget.</summary>
        public virtual long Bytes => 0;

        /// <summary>
        /// Whether it may write into the disk's reserve (a row of a few bytes the silo needs to
        /// start and to stay in the cluster), where the replicas' writes are refused.
        /// </summary>
        public virtual bool MayUseReserve => false;

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

    /// <summary>One chunk of a snapshot, written (fenced) before the metadata that points at it.</summary>
    private sealed class SnapshotChunkOperation(ReplicaClaim claim, ulong snapshotIndex, int chunkNo, ReadOnlyMemory<byte> data) : PendingOperation(claim.ReplicaId)
    {
        public override long Bytes => data.Length;

        public override async Task ExecuteAsync(AdoReplicaStore store, WriterSession session)
        {
            store._faults?.BeforeWrite(ReplicaId, snapshotChunk: true);
            if (!await WriteOperation.FenceAsync(session, claim, hardState: null).ConfigureAwait(false))
            {
                // A newer activation owns the replica; its own snapshot write will not find this chunk's count.
                return;
            }

            var command = session.Command(
                "INSERT INTO ac_snapshot_chunk (replica_id, snapshot_index, chunk_no, data) VALUES (@id, @index, @chunk, @data) " +
                "ON CONFLICT (replica_id, snapshot_index, chunk_no) DO UPDATE SET data = excluded.data");
            command.Set("id", ReplicaId);
            command.Set("index", (long)snapshotIndex);
            command.Set("chunk", chunkNo);
            command.Set("data", data.ToArray());
            await command.ExecuteNonQueryAsync().ConfigureAwait(false);
        }

        public TaskCompletionSource Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public override void Complete() => Completion.TrySetResult();

        public override void Fail(Exception error) => Completion.TrySetException(error);
    }

    private sealed class WriteOperation(ReplicaClaim claim, ReplicaWrite write, int snapshotChunks) : PendingOperation(claim.ReplicaId)
    {
        private bool _fenced;

        public TaskCompletionSource Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public override long Bytes => RaftLog.SizeOf(write.Entries);

        public override async Task ExecuteAsync(AdoReplicaStore store, WriterSession session)
        {
            store._faults?.BeforeWrite(ReplicaId);
            if (!await FenceAsync(session, claim, write.HardState).ConfigureAwait(false))
            {
                // A newer activation owns the replica: write nothing, let the others in the batch commit.
                _fenced = true;
                return;
            }

            if (write.Snapshot is { } snapshot && await PointAtSnapshotAsync(session, snapshot).ConfigureAwait(false))
            {
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
        internal static async Task<bool> FenceAsync(WriterSession session, ReplicaClaim claim, HardState? hardState)
        {
            var command = session.Command(hardState is null
                ? "UPDATE ac_replica SET epoch = epoch WHERE replica_id = @id AND epoch = @epoch"
                : "UPDATE ac_replica SET term = @term, vote = @vote, commit_index = @commit WHERE replica_id = @id AND epoch = @epoch");
            command.Set("id", claim.ReplicaId);
            command.Set("epoch", claim.Epoch);
            if (hardState is { } state)
            {
                command.Set("term", (long)state.Term);
                command.Set("vote", (long)state.Vote);
                command.Set("commit", (long)state.Commit);
            }

            return await command.ExecuteNonQueryAsync().ConfigureAwait(false) == 1;
        }

        /// <summary>
        /// Points the replica at a snapshot whose chunks are all stored, and drops older snapshots'
        /// chunks. A snapshot older than the one already pointed at (a local snapshot saved in the
        /// background while the leader's newer one was installed) is dropped instead; false then.
        /// </summary>
        private async Task<bool> PointAtSnapshotAsync(WriterSession session, Snapshot snapshot)
        {
            var current = session.Command("SELECT snapshot_index FROM ac_snapshot_meta WHERE replica_id = @id");
            current.Set("id", ReplicaId);
            if (await current.ExecuteScalarAsync().ConfigureAwait(false) is { } pointed and not DBNull
                && Convert.ToInt64(pointed, System.Globalization.CultureInfo.InvariantCulture) > (long)snapshot.Index)
            {
                var mine = session.Command("DELETE FROM ac_snapshot_chunk WHERE replica_id = @id AND snapshot_index = @index");
                mine.Set("id", ReplicaId);
                mine.Set("index", (long)snapshot.Index);
                await mine.ExecuteNonQueryAsync().ConfigureAwait(false);
                return false;
            }

            var count = session.Command("SELECT COUNT(*) FROM ac_snapshot_chunk WHERE replica_id = @id AND snapshot_index = @index");
            count.Set("id", ReplicaId);
            count.Set("index", (long)snapshot.Index);
            var stored = Convert.ToInt32(await count.ExecuteScalarAsync().ConfigureAwait(false), System.Globalization.CultureInfo.InvariantCulture);
            if (stored != snapshotChunks)
            {
                throw new InvalidDataException($"Replica {ReplicaId}: {stored} of the {snapshotChunks} chunks of snapshot {snapshot.Index} were stored.");
            }

            var meta = session.Command(
                "INSERT INTO ac_snapshot_meta (replica_id, snapshot_index, snapshot_term, snapshot_config, total_bytes, chunk_count, checksum) " +
                "VALUES (@id, @index, @term, @config, @total, @chunks, @checksum) " +
                "ON CONFLICT (replica_id) DO UPDATE SET snapshot_index = excluded.snapshot_index, snapshot_term = excluded.snapshot_term, " +
                "snapshot_config = excluded.snapshot_config, total_bytes = excluded.total_bytes, chunk_count = excluded.chunk_count, checksum = excluded.checksum");
            meta.Set("id", ReplicaId);
            meta.Set("index", (long)snapshot.Index);
            meta.Set("term", (long)snapshot.Term);
            meta.Set("config", snapshot.Metadata.Config.Encode());
            meta.Set("total", snapshot.Data.LongLength);
            meta.Set("chunks", snapshotChunks);
            meta.Set("checksum", (long)XxHash64.HashToUInt64(snapshot.Data));
            await meta.ExecuteNonQueryAsync().ConfigureAwait(false);

            // Only older ones: a newer snapshot's chunks may be on their way.
            var older = session.Command("DELETE FROM ac_snapshot_chunk WHERE replica_id = @id AND snapshot_index < @index");
            older.Set("id", ReplicaId);
            older.Set("index", (long)snapshot.Index);
            await older.ExecuteNonQueryAsync().ConfigureAwait(false);
            return true;
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

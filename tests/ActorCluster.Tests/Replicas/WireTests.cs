using ActorCluster.Grains.Raft;
using ActorCluster.Grains.Replicas;

namespace ActorCluster.Tests.Replicas;

/// <summary>What travels between replicas: the Raft message codec and the snapshot chunks' arithmetic.</summary>
public sealed class WireTests
{
    [Fact]
    public void Every_message_field_survives_the_codec_snapshot_included()
    {
        var snapshot = new Snapshot(new SnapshotMetadata(41, 7, ClusterConfig.OfVoters(1, 2, 3)), [1, 2, 3, 4, 5]);
        Message[] messages =
        [
            new() { Type = MessageType.Append, From = 1, To = 2, Term = 7, LogTerm = 6, Index = 40, Commit = 39, Entries = [new Entry(41, 7, EntryType.Normal, [9, 8]), new Entry(42, 7, EntryType.ConfChange, [])] },
            new() { Type = MessageType.AppendResponse, From = 2, To = 1, Term = 7, Index = 40, Reject = true, RejectHint = 33, LogTerm = 5 },
            new() { Type = MessageType.Heartbeat, From = 1, To = 2, Term = 7, Commit = 39, Context = 12345, Index = 987654321 },
            new() { Type = MessageType.Heartbeat, From = 1, To = 3, Term = 7, Commit = 39, Quiesce = true },
            new() { Type = MessageType.InstallSnapshot, From = 1, To = 2, Term = 7, Snapshot = snapshot },
            new() { Type = MessageType.Vote, From = 3, To = 2, Term = 8, Index = 42, LogTerm = 7, Context = Message.TransferContext },
        ];
        var decoded = RaftWireCodec.Decode(RaftWireCodec.Encode(messages));
        Assert.Equal(messages.Length, decoded.Count);
        foreach (var (sent, got) in messages.Zip(decoded))
        {
            Assert.Equal(sent.ToString(), got.ToString());
            Assert.Equal((sent.Reject, sent.Quiesce, sent.RejectHint, sent.LogTerm, sent.Commit, sent.Context, sent.Index), (got.Reject, got.Quiesce, got.RejectHint, got.LogTerm, got.Commit, got.Context, got.Index));
            Assert.Equal(sent.Entries.Select(e => (e.Index, e.Term, e.Type, Convert.ToHexString(e.Data))), got.Entries.Select(e => (e.Index, e.Term, e.Type, Convert.ToHexString(e.Data))));
        }

        var installed = decoded[4].Snapshot!;
        Assert.Equal(snapshot.Metadata, installed.Metadata);
        Assert.Equal(snapshot.Data, installed.Data);
    }

    [Fact]
    public void A_truncated_or_foreign_payload_is_a_format_error()
    {
        var payload = RaftWireCodec.Encode([new Message { Type = MessageType.Heartbeat, From = 1, To = 2, Term = 1 }]);
        Assert.Throws<FormatException>(() => RaftWireCodec.Decode(payload.AsSpan(0, payload.Length - 1)));
        Assert.Throws<FormatException>(() => RaftWireCodec.Decode([99, 0, 0, 0, 0]));
    }

    [Theory]
    [InlineData(0L, 4, 1)]
    [InlineData(10L, 4, 3)]
    [InlineData(12L, 4, 3)]
    [InlineData(13L, 4, 4)]
    public void Snapshot_chunks_cut_a_snapshot_into_pieces_of_the_chunk_size(long total, int chunkBytes, int chunks)
    {
        for (var i = 0; i < chunks; i++)
        {
            var size = (int)Math.Min(chunkBytes, total - ((long)i * chunkBytes));
            Assert.True(Chunk(total, chunkBytes, i, chunks, size).IsWellFormed, $"chunk {i}");
        }

        Assert.False(Chunk(total, chunkBytes, 0, chunks + 1, (int)Math.Min(chunkBytes, total)).IsWellFormed);
        Assert.False(Chunk(total, chunkBytes, chunks, chunks, 0).IsWellFormed);
        Assert.False(Chunk(total, chunkBytes, 0, chunks, (int)Math.Min(chunkBytes, total) + 1).IsWellFormed);
        Assert.False(Chunk(-1, chunkBytes, 0, 1, 0).IsWellFormed);
    }

    private static SnapshotChunk Chunk(long total, int chunkBytes, int index, int count, int size) =>
        new("127.0.0.1:1", 1, 1, 2, 3, 10, 2, ClusterConfig.OfVoters(1, 2, 3).Encode(), total, index, count, new byte[size], chunkBytes);
}

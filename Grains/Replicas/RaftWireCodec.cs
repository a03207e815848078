using System.Buffers;
using System.Buffers.Binary;
using ActorCluster.Grains.Raft;

namespace ActorCluster.Grains.Replicas;

/// <summary>
/// The binary form of a batch of Raft messages between replicas: compact (entry payloads are
/// copied as they are, no field names or type tags) and versioned.
/// </summary>
public static class RaftWireCodec
{
    private const byte FormatVersion = 1;

    /// <summary>Encodes messages (all to one peer) into one payload.</summary>
    public static byte[] Encode(IReadOnlyList<Message> messages)
    {
        ArgumentNullException.ThrowIfNull(messages);
        var writer = new ArrayBufferWriter<byte>(256);
        Write(writer, FormatVersion);
        WriteInt(writer, messages.Count);
        foreach (var m in messages)
        {
            Write(writer, (byte)m.Type);
            WriteLong(writer, m.From);
            WriteLong(writer, m.To);
            WriteLong(writer, m.Term);
            WriteLong(writer, m.LogTerm);
            WriteLong(writer, m.Index);
            WriteLong(writer, m.Commit);
            // Flags: 1 reject, 2 quiesce.
            Write(writer, (byte)((m.Reject ? 1 : 0) | (m.Quiesce ? 2 : 0)));
            WriteLong(writer, m.RejectHint);
            WriteLong(writer, m.Context);
            WriteInt(writer, m.Entries.Length);
            foreach (var entry in m.Entries)
            {
                WriteLong(writer, entry.Index);
                WriteLong(writer, entry.Term);
                Write(writer, (byte)entry.Type);
                WriteBytes(writer, entry.Data);
            }

            if (m.Snapshot is { } snapshot)
            {
                Write(writer, 1);
                WriteLong(writer, snapshot.Index);
                WriteLong(writer, snapshot.Term);
                WriteBytes(writer, snapshot.Metadata.Config.Encode());
                WriteBytes(writer, snapshot.Data);
            }
            else
            {
                Write(writer, 0);
            }
        }

        return writer.WrittenSpan.ToArray();
    }

    /// <summary>Decodes a payload written by <see cref="Encode"/>.</summary>
    /// <exception cref="FormatException">The payload is corrupt or of an unknown version.</exception>
    public static List<Message> Decode(ReadOnlySpan<byte> payload)
    {
        var reader = new Reader(payload);
        if (reader.Byte() != FormatVersion)
        {
            throw new FormatException("Unknown Raft wire format.");
        }

        var count = reader.Count(minimumItemBytes: 60);
        var messages = new List<Message>(count);
        for (var i = 0; i < count; i++)
        {
            var type = (MessageType)reader.Byte();
            ulong from = reader.Long(), to = reader.Long(), term = reader.Long(), logTerm = reader.Long(), index = reader.Long(), commit = reader.Long();
            var flags = reader.Byte();
            if (flags > 3)
            {
                throw new FormatException($"Unknown Raft message flags {flags}.");
            }

            ulong hint = reader.Long(), context = reader.Long();
            var entries = new Entry[reader.Count(minimumItemBytes: 21)];
            for (var e = 0; e < entries.Length; e++)
            {
                entries[e] = new Entry(reader.Long(), reader.Long(), (EntryType)reader.Byte(), reader.Bytes());
            }

            Snapshot? snapshot = null;
            if (reader.Byte() == 1)
            {
                var snapshotIndex = reader.Long();
                var snapshotTerm = reader.Long();
                var config = ClusterConfig.Decode(reader.Bytes());
                snapshot = new Snapshot(new SnapshotMetadata(snapshotIndex, snapshotTerm, config), reader.Bytes());
            }

            messages.Add(new Message
            {
                Type = type,
                From = from,
                To = to,
                Term = term,
                LogTerm = logTerm,
                Index = index,
                Commit = commit,
                Reject = (flags & 1) != 0,
                Quiesce = (flags & 2) != 0,
                RejectHint = hint,
                Context = context,
                Entries = entries,
                Snapshot = snapshot,
            });
        }

        if (!reader.AtEnd)
        {
            throw new FormatException("Trailing bytes after Raft messages.");
        }

        return messages;
    }

    private static void Write(ArrayBufferWriter<byte> writer, byte value)
    {
        writer.GetSpan(1)[0] = value;
        writer.Advance(1);
    }

    private static void WriteInt(ArrayBufferWriter<byte> writer, int value)
    {
        BinaryPrimitives.WriteInt32LittleEndian(writer.GetSpan(4), value);
        writer.Advance(4);
    }

    private static void WriteLong(ArrayBufferWriter<byte> writer, ulong value)
    {
        BinaryPrimitives.WriteUInt64LittleEndian(writer.GetSpan(8), value);
        writer.Advance(8);
    }

    private static void WriteBytes(ArrayBufferWriter<byte> writer, byte[] value)
    {
        WriteInt(writer, value.Length);
        writer.Write(value);
    }

    private ref struct Reader(ReadOnlySpan<byte> data)
    {
        private readonly ReadOnlySpan<byte> _data = data;
        private int _offset;

        public readonly bool AtEnd => _offset == _data.Length;

        public byte Byte() => Take(1)[0];

        public ulong Long() => BinaryPrimitives.ReadUInt64LittleEndian(Take(8));

        public int Count(int minimumItemBytes)
        {
            var count = BinaryPrimitives.ReadInt32LittleEndian(Take(4));
            return count >= 0 && (long)count * minimumItemBytes <= _data.Length - _offset ? count : throw new FormatException("Corrupt count in Raft messages.");
        }

        public byte[] Bytes() => Take(Count(minimumItemBytes: 1)).ToArray();

        private ReadOnlySpan<byte> Take(int count)
        {
            if (count > _data.Length - _offset)
            {
                throw new FormatException("Truncated Raft messages.");
            }

            var slice = _data.Slice(_offset, count);
            _offset += count;
            return slice;
        }
    }
}

using System.Buffers;
using System.Buffers.Binary;
using System.Text;
using ActorCluster.Grains.Interfaces.Kv;

namespace ActorCluster.Grains.Kv;

/// <summary>Snapshots: the whole state in a canonical binary form (keys in ordinal order).</summary>
public sealed partial class KvStateMachine
{
    private const uint SnapshotMagic = 0x4B56_5333; // "KVS3": sessions carry their token hash
    private const uint SnapshotMagicWithoutTokens = 0x4B56_5332; // "KVS2", still read

    /// <summary>
    /// The whole state (keys, values, versions, sessions, the log's clock and the applied index) as
    /// bytes. Two replicas with the same applied index produce identical bytes.
    /// </summary>
    public byte[] CreateSnapshot()
    {
        var writer = new ArrayBufferWriter<byte>((int)Math.Min(int.MaxValue, 64 + DataBytes + (_data.Count * 16L) + SessionBytes));
        WriteUInt32(writer, SnapshotMagic);
        WriteUInt64(writer, AppliedIndex);
        WriteUInt64(writer, ClockMs);
        WriteInt32(writer, _sessions.Count);
        foreach (var (id, session) in _sessions.OrderBy(s => s.Key))
        {
            WriteUInt64(writer, id);
            writer.Write(session.TokenHash);
            WriteUInt64(writer, session.LastActiveMs);
            WriteUInt64(writer, session.CompletedBelow);
            WriteInt32(writer, session.Results.Count);
            foreach (var (sequence, result) in session.Results)
            {
                WriteUInt64(writer, sequence);
                WriteByte(writer, (byte)result.Status);
                WriteUInt64(writer, result.Version);
                WriteString(writer, result.Error ?? string.Empty);
            }
        }

        WriteInt32(writer, _data.Count);
        foreach (var (key, value) in _data.OrderBy(d => d.Key, StringComparer.Ordinal))
        {
            WriteString(writer, key);
            WriteUInt64(writer, value.Version);
            WriteInt32(writer, value.Value.Length);
            writer.Write(value.Value);
        }

        return writer.WrittenSpan.ToArray();
    }

    /// <summary>Replaces the whole state with a snapshot made by <see cref="CreateSnapshot"/>.</summary>
    /// <exception cref="FormatException">The bytes are not a snapshot.</exception>
    public void Restore(ReadOnlySpan<byte> snapshot)
    {
        _data.Clear();
        _sessions.Clear();
        _sessionsByActivity.Clear();
        AppliedIndex = 0;
        ClockMs = 0;
        DataBytes = 0;
        SessionBytes = 0;
        if (snapshot.IsEmpty)
        {
            // The empty snapshot of a new group.
            return;
        }

        var reader = new SpanReader(snapshot);
        var magic = reader.UInt32();
        if (magic is not SnapshotMagic and not SnapshotMagicWithoutTokens)
        {
            throw new FormatException("Not a key-value snapshot.");
        }

        AppliedIndex = reader.UInt64();
        ClockMs = reader.UInt64();
        var sessions = reader.Count();
        for (var i = 0; i < sessions; i++)
        {
            var id = reader.UInt64();
            var tokenHash = magic == SnapshotMagic ? reader.Bytes(KvCommand.TokenHashBytes).ToArray() : new byte[KvCommand.TokenHashBytes];
            var session = new ClientSession(id, tokenHash) { LastActiveMs = reader.UInt64(), CompletedBelow = reader.UInt64(), Bytes = SessionOverheadBytes };
            var results = reader.Count();
            for (var j = 0; j < results; j++)
            {
                var sequence = reader.UInt64();
                var status = (KvStatus)reader.Byte();
                var version = reader.UInt64();
                var error = reader.String();
                var result = new KvResponse(status, version, null, error.Length == 0 ? null : error);
                session.Results[sequence] = result;
                session.Bytes += ResultBytes(result);
            }

            if (!_sessions.TryAdd(session.Id, session) || session.LastActiveMs > ClockMs)
            {
                throw new FormatException("Inconsistent sessions in a key-value snapshot.");
            }

            _sessionsByActivity.Add((session.LastActiveMs, session.Id));
            SessionBytes += session.Bytes;
        }

        var keys = reader.Count();
        for (var i = 0; i < keys; i++)
        {
            var key = reader.String();
            var version = reader.UInt64();
            var value = reader.Bytes(reader.Count()).ToArray();
            _data[key] = new VersionedValue(value, version);
            DataBytes += Encoding.UTF8.GetByteCount(key) + KeyOverheadBytes + value.Length;
        }

        if (!reader.AtEnd)
        {
            throw new FormatException("Trailing bytes after a key-value snapshot.");
        }
    }

    private static void WriteByte(ArrayBufferWriter<byte> writer, byte value)
    {
        writer.GetSpan(1)[0] = value;
        writer.Advance(1);
    }

    private static void WriteInt32(ArrayBufferWriter<byte> writer, int value)
    {
        BinaryPrimitives.WriteInt32LittleEndian(writer.GetSpan(4), value);
        writer.Advance(4);
    }

    private static void WriteUInt32(ArrayBufferWriter<byte> writer, uint value)
    {
        BinaryPrimitives.WriteUInt32LittleEndian(writer.GetSpan(4), value);
        writer.Advance(4);
    }

    private static void WriteUInt64(ArrayBufferWriter<byte> writer, ulong value)
    {
        BinaryPrimitives.WriteUInt64LittleEndian(writer.GetSpan(8), value);
        writer.Advance(8);
    }

    private static void WriteString(ArrayBufferWriter<byte> writer, string value)
    {
        var length = Encoding.UTF8.GetByteCount(value);
        WriteInt32(writer, length);
        writer.Advance(Encoding.UTF8.GetBytes(value, writer.GetSpan(length)));
    }

    /// <summary>Reads the snapshot format, refusing lengths that run past the end.</summary>
    private ref struct SpanReader(ReadOnlySpan<byte> data)
    {
        private readonly ReadOnlySpan<byte> _data = data;
        private int _offset;

        public readonly bool AtEnd => _offset == _data.Length;

        public byte Byte() => Bytes(1)[0];

        public uint UInt32() => BinaryPrimitives.ReadUInt32LittleEndian(Bytes(4));

        public ulong UInt64() => BinaryPrimitives.ReadUInt64LittleEndian(Bytes(8));

        public int Count()
        {
            var count = BinaryPrimitives.ReadInt32LittleEndian(Bytes(4));
            return count >= 0 && count <= _data.Length - _offset ? count : throw new FormatException("Corrupt length in a key-value snapshot.");
        }

        public string String() => Encoding.UTF8.GetString(Bytes(Count()));

        public ReadOnlySpan<byte> Bytes(int count)
        {
            if (count > _data.Length - _offset)
            {
                throw new FormatException("Truncated key-value snapshot.");
            }

            var slice = _data.Slice(_offset, count);
            _offset += count;
            return slice;
        }
    }
}

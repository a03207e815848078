using System.Buffers.Binary;
using System.Text;
using ActorCluster.Grains.Interfaces.Kv;

namespace ActorCluster.Grains.Kv;

/// <summary>
/// A write as it is stored in the Raft log. Binary, compact and versioned: a 256-byte value with a
/// 16-byte key takes 336 bytes.
/// </summary>
/// <remarks>
/// <see cref="TimestampMs"/>, <see cref="SessionTtlMs"/> and <see cref="QuotaBytes"/> are stamped by
/// the leader that proposes the command, not by the client: every replica applies the same bytes,
/// so decisions taken from them (a session's expiry by log time, a full shard) are the same on
/// every replica, whatever each replica's clock or configuration says.
/// </remarks>
public sealed record KvCommand(
    WriteKind Kind,
    string Key,
    byte[]? Value,
    ulong ExpectedVersion,
    ulong SessionId,
    ulong Sequence,
    ulong CompletedBelow)
{
    private const byte FormatVersion = 2;
    private const int HeaderBytes = 1 + 1 + (8 * 7) + 2 + 4;

    /// <summary>The proposing leader's clock (milliseconds since the Unix epoch): the log's time.</summary>
    public ulong TimestampMs { get; init; }

    /// <summary>How long a session may stay idle in log time before it expires (0: never).</summary>
    public ulong SessionTtlMs { get; init; }

    /// <summary>Most bytes of keys and values the shard may hold (0: no limit).</summary>
    public ulong QuotaBytes { get; init; }

    /// <summary>The command for a client's write request (the leader stamps the rest).</summary>
    public static KvCommand From(WriteRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        return new KvCommand(request.Kind, request.Key, request.Value, request.ExpectedVersion, request.SessionId, request.Sequence, request.CompletedBelow);
    }

    /// <summary>Encodes the command for the log.</summary>
    public byte[] Encode()
    {
        var keyBytes = Encoding.UTF8.GetByteCount(Key);
        var valueBytes = Value?.Length ?? 0;
        var buffer = new byte[HeaderBytes + keyBytes + valueBytes];
        var span = buffer.AsSpan();
        span[0] = FormatVersion;
        span[1] = (byte)Kind;
        BinaryPrimitives.WriteUInt64LittleEndian(span[2..], SessionId);
        BinaryPrimitives.WriteUInt64LittleEndian(span[10..], Sequence);
        BinaryPrimitives.WriteUInt64LittleEndian(span[18..], CompletedBelow);
        BinaryPrimitives.WriteUInt64LittleEndian(span[26..], ExpectedVersion);
        BinaryPrimitives.WriteUInt64LittleEndian(span[34..], TimestampMs);
        BinaryPrimitives.WriteUInt64LittleEndian(span[42..], SessionTtlMs);
        BinaryPrimitives.WriteUInt64LittleEndian(span[50..], QuotaBytes);
        BinaryPrimitives.WriteUInt16LittleEndian(span[58..], checked((ushort)keyBytes));
        BinaryPrimitives.WriteInt32LittleEndian(span[60..], Value is null ? -1 : valueBytes);
        Encoding.UTF8.GetBytes(Key, span[HeaderBytes..]);
        Value?.CopyTo(span[(HeaderBytes + keyBytes)..]);
        return buffer;
    }

    /// <summary>Decodes a command written by <see cref="Encode"/>.</summary>
    /// <exception cref="FormatException">The bytes are not a command of a known format.</exception>
    public static KvCommand Decode(ReadOnlySpan<byte> data)
    {
        if (data.Length < HeaderBytes || data[0] != FormatVersion || data[1] is < (byte)WriteKind.Put or > (byte)WriteKind.OpenSession)
        {
            throw new FormatException("Not a key-value command.");
        }

        var keyBytes = BinaryPrimitives.ReadUInt16LittleEndian(data[58..]);
        var valueBytes = BinaryPrimitives.ReadInt32LittleEndian(data[60..]);
        if (valueBytes < -1 || data.Length != HeaderBytes + keyBytes + Math.Max(valueBytes, 0))
        {
            throw new FormatException("Truncated key-value command.");
        }

        return new KvCommand(
            (WriteKind)data[1],
            Encoding.UTF8.GetString(data.Slice(HeaderBytes, keyBytes)),
            valueBytes < 0 ? null : data.Slice(HeaderBytes + keyBytes, valueBytes).ToArray(),
            BinaryPrimitives.ReadUInt64LittleEndian(data[26..]),
            BinaryPrimitives.ReadUInt64LittleEndian(data[2..]),
            BinaryPrimitives.ReadUInt64LittleEndian(data[10..]),
            BinaryPrimitives.ReadUInt64LittleEndian(data[18..]))
        {
            TimestampMs = BinaryPrimitives.ReadUInt64LittleEndian(data[34..]),
            SessionTtlMs = BinaryPrimitives.ReadUInt64LittleEndian(data[42..]),
            QuotaBytes = BinaryPrimitives.ReadUInt64LittleEndian(data[50..]),
        };
    }
}

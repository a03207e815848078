using System.Buffers.Binary;
using System.Text;
using ActorCluster.Grains.Interfaces.Kv;

namespace ActorCluster.Grains.Kv;

/// <summary>
/// A write as it is stored in the Raft log. Binary, compact and versioned: a 256-byte value with a
/// 16-byte key takes 352 bytes. The session token travels as its hash only
/// (<see cref="SessionTokenHash"/>): the log, snapshots and everything that shows them never hold
/// a token a client could write with.
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
    private const byte FormatVersion = 3;
    private const byte FormatVersionWithoutToken = 2;
    private const int HeaderBytesWithoutToken = 1 + 1 + (8 * 7) + 2 + 4;
    private const int HeaderBytes = HeaderBytesWithoutToken + TokenHashBytes;

    /// <summary>The length of <see cref="SessionTokenHash"/>.</summary>
    public const int TokenHashBytes = 16;

    /// <summary>
    /// The hash of the session token the client sent (SHA-256, first 16 bytes), stamped by the
    /// leader; all zeros when the command carried none (commands of format 2, from before tokens).
    /// </summary>
    public byte[] SessionTokenHash { get; init; } = new byte[TokenHashBytes];

    /// <summary>
    /// A command of format 2, written before session tokens and the bound on the log's clock: it is
    /// applied by the rules of its time (no token to check, the clock moved to its stamp), so that a
    /// replica replaying it now reaches the state the others reached then.
    /// </summary>
    public bool IsFormat2 { get; init; }

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
        return new KvCommand(request.Kind, request.Key, request.Value, request.ExpectedVersion, request.SessionId, request.Sequence, request.CompletedBelow)
        {
            SessionTokenHash = HashToken(request.SessionToken),
        };
    }

    /// <summary>What the log keeps of a session token: the first 16 bytes of its SHA-256 (all zeros for none).</summary>
    public static byte[] HashToken(byte[]? token) =>
        token is { Length: > 0 } ? System.Security.Cryptography.SHA256.HashData(token)[..TokenHashBytes] : new byte[TokenHashBytes];

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
        if (SessionTokenHash.Length != TokenHashBytes)
        {
            throw new InvalidOperationException($"A session token hash has {TokenHashBytes} bytes, not {SessionTokenHash.Length}.");
        }

        SessionTokenHash.CopyTo(span[HeaderBytesWithoutToken..]);
        Encoding.UTF8.GetBytes(Key, span[HeaderBytes..]);
        Value?.CopyTo(span[(HeaderBytes + keyBytes)..]);
        return buffer;
    }

    /// <summary>Decodes a command written by <see cref="Encode"/>.</summary>
    /// <exception cref="FormatException">The bytes are not a command of a known format.</exception>
    public static KvCommand Decode(ReadOnlySpan<byte> data)
    {
        // Format 2 (no token hash) is still read: logs and snapshots written before tokens replay
        // as they were applied then.
        var header = data.IsEmpty ? 0 : data[0] switch { FormatVersion => HeaderBytes, FormatVersionWithoutToken => HeaderBytesWithoutToken, _ => 0 };
        if (header == 0 || data.Length < header || data[1] is < (byte)WriteKind.Put or > (byte)WriteKind.OpenSession)
        {
            throw new FormatException("Not a key-value command.");
        }

        var keyBytes = BinaryPrimitives.ReadUInt16LittleEndian(data[58..]);
        var valueBytes = BinaryPrimitives.ReadInt32LittleEndian(data[60..]);
        if (valueBytes < -1 || data.Length != header + keyBytes + Math.Max(valueBytes, 0))
        {
            throw new FormatException("Truncated key-value command.");
        }

        return new KvCommand(
            (WriteKind)data[1],
            Encoding.UTF8.GetString(data.Slice(header, keyBytes)),
            valueBytes < 0 ? null : data.Slice(header + keyBytes, valueBytes).ToArray(),
            BinaryPrimitives.ReadUInt64LittleEndian(data[26..]),
            BinaryPrimitives.ReadUInt64LittleEndian(data[2..]),
            BinaryPrimitives.ReadUInt64LittleEndian(data[10..]),
            BinaryPrimitives.ReadUInt64LittleEndian(data[18..]))
        {
            TimestampMs = BinaryPrimitives.ReadUInt64LittleEndian(data[34..]),
            SessionTtlMs = BinaryPrimitives.ReadUInt64LittleEndian(data[42..]),
            QuotaBytes = BinaryPrimitives.ReadUInt64LittleEndian(data[50..]),
            SessionTokenHash = header == HeaderBytes ? data.Slice(HeaderBytesWithoutToken, TokenHashBytes).ToArray() : new byte[TokenHashBytes],
            IsFormat2 = header == HeaderBytesWithoutToken,
        };
    }
}

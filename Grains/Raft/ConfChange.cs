using System.Buffers.Binary;

namespace ActorCluster.Grains.Raft;

/// <summary>The kinds of single-server membership change.</summary>
public enum ConfChangeType : byte
{
    /// <summary>Adds a non-voting member that receives the log.</summary>
    AddLearner = 0,

    /// <summary>Promotes a learner to a voter. A node must join as a learner first.</summary>
    AddVoter = 1,

    /// <summary>Removes a voter (the leader included) or a learner.</summary>
    RemoveNode = 2,
}

/// <summary>One single-server membership change, as proposed.</summary>
public readonly record struct ConfChange(ConfChangeType Type, ulong NodeId);

/// <summary>
/// The payload of a <see cref="EntryType.ConfChange"/> entry: the change and the whole configuration
/// it produces. Carrying the whole result lets any node find its configuration from the newest
/// configuration entry in its log, which is what makes truncating an uncommitted change revert it.
/// </summary>
public sealed record ConfChangeEntry(ConfChange Change, ClusterConfig Config)
{
    private const byte FormatVersion = 1;

    /// <summary>Encodes the entry in its stable binary form.</summary>
    public byte[] Encode()
    {
        var voters = Config.Voters;
        var learners = Config.Learners;
        var buffer = new byte[1 + 1 + 8 + 4 + (8 * voters.Count) + 4 + (8 * learners.Count)];
        var span = buffer.AsSpan();
        span[0] = FormatVersion;
        span[1] = (byte)Change.Type;
        BinaryPrimitives.WriteUInt64LittleEndian(span[2..], Change.NodeId);
        var offset = 10;
        offset = WriteIds(span, offset, voters);
        WriteIds(span, offset, learners);
        return buffer;
    }

    /// <summary>Decodes an entry written by <see cref="Encode"/>.</summary>
    /// <exception cref="FormatException">The bytes are not a configuration entry.</exception>
    public static ConfChangeEntry Decode(ReadOnlySpan<byte> data)
    {
        if (data.Length < 18 || data[0] != FormatVersion || data[1] > (byte)ConfChangeType.RemoveNode)
        {
            throw new FormatException("Not a membership change entry.");
        }

        var change = new ConfChange((ConfChangeType)data[1], BinaryPrimitives.ReadUInt64LittleEndian(data[2..]));
        var offset = 10;
        var voters = ReadIds(data, ref offset);
        var learners = ReadIds(data, ref offset);
        if (offset != data.Length)
        {
            throw new FormatException("Trailing bytes after a membership change entry.");
        }

        return new ConfChangeEntry(change, new ClusterConfig(voters, learners));
    }

    private static int WriteIds(Span<byte> span, int offset, IReadOnlyList<ulong> ids)
    {
        BinaryPrimitives.WriteInt32LittleEndian(span[offset..], ids.Count);
        offset += 4;
        foreach (var id in ids)
        {
            BinaryPrimitives.WriteUInt64LittleEndian(span[offset..], id);
            offset += 8;
        }

        return offset;
    }

    private static ulong[] ReadIds(ReadOnlySpan<byte> data, ref int offset)
    {
        if (data.Length - offset < 4)
        {
            throw new FormatException("Truncated membership change entry.");
        }

        var count = BinaryPrimitives.ReadInt32LittleEndian(data[offset..]);
        offset += 4;
        if (count < 0 || count > (data.Length - offset) / 8)
        {
            throw new FormatException("Truncated membership change entry.");
        }

        var ids = new ulong[count];
        for (var i = 0; i < count; i++)
        {
            ids[i] = BinaryPrimitives.ReadUInt64LittleEndian(data[offset..]);
            offset += 8;
        }

        return ids;
    }
}

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

/// <summary>
/// One single-server membership change, as proposed. <paramref name="StoreId"/> names the store
/// that holds a new learner (0: not said); it is kept in the configuration for the driver.
/// </summary>
public readonly record struct ConfChange(ConfChangeType Type, ulong NodeId, ulong StoreId = 0);

/// <summary>
/// The payload of a <see cref="EntryType.ConfChange"/> entry: the change and the whole configuration
/// it produces. Carrying the whole result lets any node find its configuration from the newest
/// configuration entry in its log, which is what makes truncating an uncommitted change revert it.
/// </summary>
public sealed record ConfChangeEntry(ConfChange Change, ClusterConfig Config)
{
    private const byte FormatVersion = 2;

    /// <summary>Encodes the entry in its stable binary form.</summary>
    public byte[] Encode()
    {
        var config = Config.Encode();
        var buffer = new byte[18 + config.Length];
        buffer[0] = FormatVersion;
        buffer[1] = (byte)Change.Type;
        BinaryPrimitives.WriteUInt64LittleEndian(buffer.AsSpan(2), Change.NodeId);
        BinaryPrimitives.WriteUInt64LittleEndian(buffer.AsSpan(10), Change.StoreId);
        config.CopyTo(buffer, 18);
        return buffer;
    }

    /// <summary>Decodes an entry written by <see cref="Encode"/>.</summary>
    /// <exception cref="FormatException">The bytes are not a configuration entry.</exception>
    public static ConfChangeEntry Decode(ReadOnlySpan<byte> data)
    {
        if (data.Length < 26 || data[0] != FormatVersion || data[1] > (byte)ConfChangeType.RemoveNode)
        {
            throw new FormatException("Not a membership change entry.");
        }

        var change = new ConfChange((ConfChangeType)data[1], BinaryPrimitives.ReadUInt64LittleEndian(data[2..]), BinaryPrimitives.ReadUInt64LittleEndian(data[10..]));
        return new ConfChangeEntry(change, ClusterConfig.Decode(data[18..]));
    }

}

using System.Buffers.Binary;

namespace ActorCluster.Grains.Raft;

/// <summary>
/// A Raft configuration: the voters that form quorums and the learners that only receive the log.
/// Immutable; ids are kept sorted so equal configurations compare and encode identically.
/// </summary>
public sealed class ClusterConfig : IEquatable<ClusterConfig>
{
    /// <summary>The configuration with no members (a node that has not yet learned one).</summary>
    public static readonly ClusterConfig Empty = new([], []);

    private readonly ulong[] _voters;
    private readonly ulong[] _learners;

    /// <summary>Creates a configuration; ids must be non-zero and a node cannot be both.</summary>
    public ClusterConfig(IEnumerable<ulong> voters, IEnumerable<ulong> learners)
    {
        ArgumentNullException.ThrowIfNull(voters);
        ArgumentNullException.ThrowIfNull(learners);
        _voters = [.. voters.Distinct().Order()];
        _learners = [.. learners.Distinct().Order()];
        if (_voters.Contains(RaftNode.None) || _learners.Contains(RaftNode.None))
        {
            throw new ArgumentException("Node id 0 is reserved for 'no node'.", nameof(voters));
        }

        if (_voters.Intersect(_learners).Any())
        {
            throw new ArgumentException("A node cannot be both a voter and a learner.", nameof(learners));
        }
    }

    /// <summary>Creates a configuration of voters only.</summary>
    public static ClusterConfig OfVoters(params ulong[] voters) => new(voters, []);

    /// <summary>The voters, sorted ascending.</summary>
    public IReadOnlyList<ulong> Voters => _voters;

    /// <summary>The learners, sorted ascending.</summary>
    public IReadOnlyList<ulong> Learners => _learners;

    /// <summary>The number of votes (or acknowledgements) that form a majority of the voters.</summary>
    public int Quorum => (_voters.Length / 2) + 1;

    /// <summary>True when <paramref name="id"/> is a voter.</summary>
    public bool IsVoter(ulong id) => Array.BinarySearch(_voters, id) >= 0;

    /// <summary>True when <paramref name="id"/> is a learner.</summary>
    public bool IsLearner(ulong id) => Array.BinarySearch(_learners, id) >= 0;

    /// <summary>True when <paramref name="id"/> is a voter or a learner.</summary>
    public bool Contains(ulong id) => IsVoter(id) || IsLearner(id);

    /// <summary>All members, voters first.</summary>
    public IEnumerable<ulong> Members => _voters.Concat(_learners);

    /// <summary>The configuration that results from applying <paramref name="change"/>.</summary>
    public ClusterConfig Apply(ConfChange change) => change.Type switch
    {
        ConfChangeType.AddLearner => new(_voters, _learners.Append(change.NodeId)),
        ConfChangeType.AddVoter => new(_voters.Append(change.NodeId), _learners.Where(id => id != change.NodeId)),
        ConfChangeType.RemoveNode => new(_voters.Where(id => id != change.NodeId), _learners.Where(id => id != change.NodeId)),
        _ => throw new ArgumentOutOfRangeException(nameof(change), change.Type, "Unknown membership change."),
    };

    /// <summary>The stable binary form: voter count and ids, then learner count and ids.</summary>
    public byte[] Encode()
    {
        var buffer = new byte[4 + (8 * _voters.Length) + 4 + (8 * _learners.Length)];
        var offset = WriteIds(buffer, 0, _voters);
        WriteIds(buffer, offset, _learners);
        return buffer;
    }

    /// <summary>Decodes a configuration written by <see cref="Encode"/>.</summary>
    /// <exception cref="FormatException">The bytes are not a configuration.</exception>
    public static ClusterConfig Decode(ReadOnlySpan<byte> data)
    {
        var offset = 0;
        var voters = ReadIds(data, ref offset);
        var learners = ReadIds(data, ref offset);
        if (offset != data.Length)
        {
            throw new FormatException("Trailing bytes after a configuration.");
        }

        try
        {
            return new ClusterConfig(voters, learners);
        }
        catch (ArgumentException e)
        {
            throw new FormatException($"Invalid configuration: {e.Message}", e);
        }
    }

    private static int WriteIds(Span<byte> span, int offset, ulong[] ids)
    {
        BinaryPrimitives.WriteInt32LittleEndian(span[offset..], ids.Length);
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
            throw new FormatException("Truncated configuration.");
        }

        var count = BinaryPrimitives.ReadInt32LittleEndian(data[offset..]);
        offset += 4;
        if (count < 0 || count > (data.Length - offset) / 8)
        {
            throw new FormatException("Truncated configuration.");
        }

        var ids = new ulong[count];
        for (var i = 0; i < count; i++)
        {
            ids[i] = BinaryPrimitives.ReadUInt64LittleEndian(data[offset..]);
            offset += 8;
        }

        return ids;
    }

    /// <inheritdoc />
    public bool Equals(ClusterConfig? other) =>
        other is not null && _voters.AsSpan().SequenceEqual(other._voters) && _learners.AsSpan().SequenceEqual(other._learners);

    /// <inheritdoc />
    public override bool Equals(object? obj) => Equals(obj as ClusterConfig);

    /// <inheritdoc />
    public override int GetHashCode()
    {
        var hash = default(HashCode);
        foreach (var id in _voters)
        {
            hash.Add(id);
        }

        hash.Add(-1);
        foreach (var id in _learners)
        {
            hash.Add(id);
        }

        return hash.ToHashCode();
    }

    /// <inheritdoc />
    public override string ToString() =>
        $"voters=[{string.Join(',', _voters)}] learners=[{string.Join(',', _learners)}]";
}

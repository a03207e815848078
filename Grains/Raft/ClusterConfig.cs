using System.Buffers.Binary;

namespace ActorCluster.Grains.Raft;

/// <summary>
/// A Raft configuration: the voters that form quorums and the learners that only receive the log,
/// the store (the node's disk) that holds each member, and the next member id never used. Member
/// ids are never reused: an id below <see cref="NextId"/> that is not a member was removed for good,
/// and its messages are dropped. Immutable; ids are kept sorted so equal configurations compare and
/// encode identically. The core reads only the voters and learners; the stores are for the driver.
/// </summary>
public sealed class ClusterConfig : IEquatable<ClusterConfig>
{
    /// <summary>The configuration with no members (a node that has not yet learned one).</summary>
    public static readonly ClusterConfig Empty = new([], []);

    private readonly ulong[] _voters;
    private readonly ulong[] _learners;
    private readonly Dictionary<ulong, ulong> _stores;

    /// <summary>
    /// Creates a configuration; ids must be non-zero and a node cannot be both. <paramref name="stores"/>
    /// names the store of members (others have store 0, unknown); <see cref="NextId"/> is at least one
    /// more than the highest member id.
    /// </summary>
    public ClusterConfig(IEnumerable<ulong> voters, IEnumerable<ulong> learners, IReadOnlyDictionary<ulong, ulong>? stores = null, ulong nextId = 0)
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

        _stores = [];
        foreach (var (id, store) in stores ?? new Dictionary<ulong, ulong>())
        {
            if (store != 0 && Contains(id))
            {
                _stores[id] = store;
            }
        }

        var highest = _voters.Concat(_learners).DefaultIfEmpty(0UL).Max();
        NextId = Math.Max(nextId, highest + 1);
    }

    /// <summary>The lowest member id never used in this group (ids are never reused).</summary>
    public ulong NextId { get; }

    /// <summary>The store that holds member <paramref name="id"/>, or 0 when unknown.</summary>
    public ulong StoreOf(ulong id) => _stores.GetValueOrDefault(id);

    /// <summary>True when <paramref name="id"/> was a member once and has been removed: it may never come back.</summary>
    public bool IsRemoved(ulong id) => id != RaftNode.None && id < NextId && !Contains(id);

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
    public ClusterConfig Apply(ConfChange change)
    {
        var stores = new Dictionary<ulong, ulong>(_stores);
        if (change.Type == ConfChangeType.AddLearner && change.StoreId != 0)
        {
            stores[change.NodeId] = change.StoreId;
        }

        var next = Math.Max(NextId, change.NodeId + 1);
        return change.Type switch
        {
            ConfChangeType.AddLearner => new(_voters, _learners.Append(change.NodeId), stores, next),
            ConfChangeType.AddVoter => new(_voters.Append(change.NodeId), _learners.Where(id => id != change.NodeId), stores, next),
            ConfChangeType.RemoveNode => new(_voters.Where(id => id != change.NodeId), _learners.Where(id => id != change.NodeId), stores, next),
            _ => throw new ArgumentOutOfRangeException(nameof(change), change.Type, "Unknown membership change."),
        };
    }

    /// <summary>
    /// The stable binary form: voter count and ids, learner count and ids, the next id, then the
    /// store of each member (voters, then learners; 0 when unknown).
    /// </summary>
    public byte[] Encode()
    {
        var members = _voters.Length + _learners.Length;
        var buffer = new byte[4 + (8 * _voters.Length) + 4 + (8 * _learners.Length) + 8 + (8 * members)];
        var offset = WriteIds(buffer, 0, _voters);
        offset = WriteIds(buffer, offset, _learners);
        BinaryPrimitives.WriteUInt64LittleEndian(buffer.AsSpan(offset), NextId);
        offset += 8;
        foreach (var id in Members)
        {
            BinaryPrimitives.WriteUInt64LittleEndian(buffer.AsSpan(offset), StoreOf(id));
            offset += 8;
        }

        return buffer;
    }

    /// <summary>Decodes a configuration written by <see cref="Encode"/>.</summary>
    /// <exception cref="FormatException">The bytes are not a configuration.</exception>
    public static ClusterConfig Decode(ReadOnlySpan<byte> data)
    {
        var offset = 0;
        var voters = ReadIds(data, ref offset);
        var learners = ReadIds(data, ref offset);
        var members = voters.Length + learners.Length;
        if (data.Length - offset != 8 + (8L * members))
        {
            throw new FormatException("A configuration's stores do not match its members.");
        }

        var nextId = BinaryPrimitives.ReadUInt64LittleEndian(data[offset..]);
        offset += 8;
        var stores = new Dictionary<ulong, ulong>();
        foreach (var id in voters.Concat(learners))
        {
            stores[id] = BinaryPrimitives.ReadUInt64LittleEndian(data[offset..]);
            offset += 8;
        }

        try
        {
            var config = new ClusterConfig(voters, learners, stores, nextId);
            if (config.NextId != nextId)
            {
                throw new FormatException("A configuration's next id is not above its members.");
            }

            return config;
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
        other is not null && _voters.AsSpan().SequenceEqual(other._voters) && _learners.AsSpan().SequenceEqual(other._learners)
        && NextId == other.NextId && Members.All(id => StoreOf(id) == other.StoreOf(id));

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

        hash.Add(NextId);

        return hash.ToHashCode();
    }

    /// <inheritdoc />
    public override string ToString() =>
        $"voters=[{string.Join(',', _voters.Select(Describe))}] learners=[{string.Join(',', _learners.Select(Describe))}] next={NextId}";

    private string Describe(ulong id) => StoreOf(id) is var store and not 0 ? $"{id}@{store:x}" : id.ToString(System.Globalization.CultureInfo.InvariantCulture);
}

using System.IO.Hashing;
using System.Text;

namespace ActorCluster.Grains.Interfaces.Ring;

/// <summary>
/// Maps a key to its shard: a stable 64-bit hash of the key's UTF-8 bytes (XxHash64, the same in
/// every process and on every platform) onto a ring of arcs, each owned by one shard. Client and
/// silos share this code, so a client routes a key straight to its shard's grain.
/// </summary>
/// <remarks>
/// Arcs are kept as a sorted array of start points; a lookup is a binary search for the last
/// start at or below the hash, wrapping to the last arc below the first start. Arcs let a later
/// version split a hot shard by adding a start point; the ring's <see cref="Epoch"/> changes then.
/// </remarks>
public sealed class KeyRing
{
    private readonly ulong[] _starts;
    private readonly int[] _owners;

    private KeyRing(ulong[] starts, int[] owners, long epoch)
    {
        _starts = starts;
        _owners = owners;
        Epoch = epoch;
        ShardCount = owners.Distinct().Count();
    }

    /// <summary>The number of shards.</summary>
    public int ShardCount { get; }

    /// <summary>The ring layout version; changes when arcs are split or moved.</summary>
    public long Epoch { get; }

    /// <summary>A ring of <paramref name="shards"/> equal arcs: shard i owns [i*2^64/n, (i+1)*2^64/n).</summary>
    public static KeyRing Uniform(int shards, long epoch = 1)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(shards, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(shards, MaxShards);
        var starts = new ulong[shards];
        var owners = new int[shards];
        for (var i = 0; i < shards; i++)
        {
            starts[i] = (ulong)(((UInt128)ulong.MaxValue + 1) * (ulong)i / (ulong)shards);
            owners[i] = i;
        }

        return new KeyRing(starts, owners, epoch);
    }

    /// <summary>A ring of explicit arcs: arc i starts at <paramref name="starts"/>[i] and is owned by <paramref name="owners"/>[i].</summary>
    public static KeyRing FromArcs(ulong[] starts, int[] owners, long epoch)
    {
        ArgumentNullException.ThrowIfNull(starts);
        ArgumentNullException.ThrowIfNull(owners);
        if (starts.Length == 0 || starts.Length != owners.Length)
        {
            throw new ArgumentException("Every arc needs exactly one owner.", nameof(owners));
        }

        for (var i = 1; i < starts.Length; i++)
        {
            if (starts[i] <= starts[i - 1])
            {
                throw new ArgumentException("Arc starts must be strictly increasing.", nameof(starts));
            }
        }

        return new KeyRing([.. starts], [.. owners], epoch);
    }

    /// <summary>The most shards a ring may have.</summary>
    public const int MaxShards = 4096;

    /// <summary>The position of a key on the ring.</summary>
    public static ulong Hash(string key)
    {
        ArgumentNullException.ThrowIfNull(key);
        var byteCount = Encoding.UTF8.GetByteCount(key);
        Span<byte> buffer = byteCount <= 256 ? stackalloc byte[byteCount] : new byte[byteCount];
        Encoding.UTF8.GetBytes(key, buffer);
        return XxHash64.HashToUInt64(buffer);
    }

    /// <summary>The shard that owns <paramref name="key"/>.</summary>
    public int ShardOf(string key) => ShardAt(Hash(key));

    /// <summary>The shard that owns ring position <paramref name="position"/>.</summary>
    public int ShardAt(ulong position) => _owners[ArcIndexAt(position)];

    /// <summary>
    /// The arc that holds ring position <paramref name="position"/>: where it starts, where the
    /// next one starts (2^64 for the last arc when the first starts at 0), and the shard owning it.
    /// The arc below the first start wraps: it starts at the last start and ends past 2^64, at
    /// 2^64 plus the first start.
    /// </summary>
    public (ulong Start, UInt128 End, int Shard) ArcAt(ulong position)
    {
        var index = ArcIndexAt(position);
        UInt128 end = index + 1 < _starts.Length ? _starts[index + 1] : (UInt128)ulong.MaxValue + 1 + _starts[0];
        return (_starts[index], end, _owners[index]);
    }

    private int ArcIndexAt(ulong position)
    {
        // Lower bound over the arc starts: the last start <= position owns it.
        int lo = 0, hi = _starts.Length - 1, found = -1;
        while (lo <= hi)
        {
            var mid = lo + ((hi - lo) >> 1);
            if (_starts[mid] <= position)
            {
                found = mid;
                lo = mid + 1;
            }
            else
            {
                hi = mid - 1;
            }
        }

        // Below the first start the ring wraps around to the last arc.
        return found >= 0 ? found : _starts.Length - 1;
    }
}

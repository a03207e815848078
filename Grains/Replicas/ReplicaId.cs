using System.Globalization;
using ActorCluster.Grains.Placement;

namespace ActorCluster.Grains.Replicas;

/// <summary>
/// Replica grain keys: <c>{shard}/{replica id}@{store}</c>. The replica id is the Raft node id,
/// unique within the shard for all time; the store (16 hex digits) is the silo disk that holds the
/// replica, which <see cref="StorePlacement"/> pins it to.
/// </summary>
public static class ReplicaId
{
    public static string Format(int shard, ulong replica, ulong store) =>
        StoreKey.Format(string.Create(CultureInfo.InvariantCulture, $"{shard}/{replica}"), store);

    /// <summary>Parses a replica key; false for anything else.</summary>
    public static bool TryParse(string? key, out int shard, out ulong replica, out ulong store)
    {
        shard = 0;
        replica = store = 0;
        if (key is null || !StoreKey.TryParseStore(key, out store))
        {
            return false;
        }

        var name = key.AsSpan(0, key.LastIndexOf('@'));
        var separator = name.IndexOf('/');
        return separator > 0
            && int.TryParse(name[..separator], NumberStyles.None, CultureInfo.InvariantCulture, out shard)
            && ulong.TryParse(name[(separator + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out replica)
            && replica >= 1;
    }
}

using System.Globalization;
using ActorCluster.Grains.Interfaces;

namespace ActorCluster.Client;

/// <summary>
/// Where a key lives (<see cref="ActorClusterClient.LocateAsync"/>): its position on the ring, the
/// arc holding that position and the shard owning the arc, and the shard's replicas with its leader.
/// </summary>
/// <param name="Key">The key.</param>
/// <param name="Hash">Its position on the ring: XxHash64 of its UTF-8 bytes.</param>
/// <param name="Shard">The shard owning the arc.</param>
/// <param name="ArcStart">Where the arc starts (inclusive).</param>
/// <param name="ArcEnd">Where it ends (exclusive): 2^64 for the last arc; past 2^64 for an arc that wraps around.</param>
/// <param name="Leader">The replica leading the shard now, 0 when none does.</param>
/// <param name="Replicas">The shard's replicas that answered: id, silo, store, role, term and indexes.</param>
public sealed record KeyLocation(string Key, ulong Hash, int Shard, ulong ArcStart, UInt128 ArcEnd, ulong Leader, IReadOnlyList<ReplicaStatus> Replicas)
{
    /// <summary>The arc as hexadecimal ring positions, <c>[start, end)</c>.</summary>
    public string Arc
    {
        get
        {
            var ringSize = (UInt128)ulong.MaxValue + 1;
            var end = ArcEnd < ringSize ? ((ulong)ArcEnd).ToString("x16", CultureInfo.InvariantCulture)
                : ArcEnd == ringSize ? "2^64" : "2^64+" + ((ulong)(ArcEnd - ringSize)).ToString("x16", CultureInfo.InvariantCulture);
            return $"[{ArcStart.ToString("x16", CultureInfo.InvariantCulture)}, {end})";
        }
    }

    /// <summary>The fraction of the ring the arc covers.</summary>
    public double ArcShare => (double)(ArcEnd - ArcStart) / Math.Pow(2, 64);
}

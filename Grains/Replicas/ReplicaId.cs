using System.Globalization;

namespace ActorCluster.Grains.Replicas;

/// <summary>Replica grain keys: <c>{shard}/{slot}</c>, slots counted from 1 (the Raft node id).</summary>
public static class ReplicaId
{
    public static string Format(int shard, int slot) => string.Create(CultureInfo.InvariantCulture, $"{shard}/{slot}");

    /// <summary>Parses a replica key; false for anything else.</summary>
    public static bool TryParse(string? key, out int shard, out int slot)
    {
        shard = slot = 0;
        var separator = key?.IndexOf('/', StringComparison.Ordinal) ?? -1;
        return separator > 0
            && int.TryParse(key.AsSpan(0, separator), NumberStyles.None, CultureInfo.InvariantCulture, out shard)
            && int.TryParse(key.AsSpan(separator + 1), NumberStyles.None, CultureInfo.InvariantCulture, out slot)
            && slot >= 1;
    }
}

using System.IO.Hashing;
using System.Text;

namespace ActorCluster.Grains.Ring;

/// <summary>
/// A silo's stable identity for placement: a hash of its endpoint ("host:port"). Never the full
/// silo address, whose generation changes on every restart and would move every replica.
/// </summary>
public static class SiloKey
{
    /// <summary>The key of the silo listening at <paramref name="endpoint"/>.</summary>
    public static ulong Of(string endpoint)
    {
        ArgumentException.ThrowIfNullOrEmpty(endpoint);
        return XxHash64.HashToUInt64(Encoding.UTF8.GetBytes(endpoint));
    }
}

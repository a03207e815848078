namespace ActorCluster.Simulation;

/// <summary>FNV-1a, 64-bit: a stable hash for traces and entry payloads (not for security).</summary>
internal static class Fnv
{
    public const ulong Offset = 14695981039346656037UL;
    private const ulong Prime = 1099511628211UL;

    public static ulong Mix(ulong hash, ulong value)
    {
        for (var i = 0; i < 8; i++)
        {
            hash ^= (byte)(value >> (8 * i));
            hash *= Prime;
        }

        return hash;
    }

    public static ulong Hash(ReadOnlySpan<byte> data)
    {
        var hash = Offset;
        foreach (var b in data)
        {
            hash ^= b;
            hash *= Prime;
        }

        return hash;
    }
}

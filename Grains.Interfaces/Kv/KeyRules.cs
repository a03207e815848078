using System.Text;

namespace ActorCluster.Grains.Interfaces.Kv;

/// <summary>The limits every key and value must respect, checked by the client and again by the silo.</summary>
public static class KeyRules
{
    /// <summary>Longest key, in UTF-8 bytes.</summary>
    public const int MaxKeyBytes = 1024;

    /// <summary>Largest value, in bytes.</summary>
    public const int MaxValueBytes = 1024 * 1024;

    /// <summary>Why <paramref name="key"/> is not acceptable, or null when it is.</summary>
    public static string? ValidateKey(string? key)
    {
        if (string.IsNullOrEmpty(key))
        {
            return "the key is empty";
        }

        var bytes = Encoding.UTF8.GetByteCount(key);
        return bytes > MaxKeyBytes ? $"the key is {bytes} bytes; the limit is {MaxKeyBytes}" : null;
    }

    /// <summary>Why <paramref name="value"/> is not acceptable, or null when it is.</summary>
    public static string? ValidateValue(ReadOnlySpan<byte> value) =>
        value.Length > MaxValueBytes ? $"the value is {value.Length} bytes; the limit is {MaxValueBytes}" : null;
}

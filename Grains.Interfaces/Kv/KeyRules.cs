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

        if (FirstLoneSurrogate(key) is { } position)
        {
            // UTF-8 would encode it as U+FFFD, so two different keys would name one stored key.
            return $"the key is not well-formed UTF-16: a lone surrogate at position {position}";
        }

        var bytes = Encoding.UTF8.GetByteCount(key);
        return bytes > MaxKeyBytes ? $"the key is {bytes} bytes; the limit is {MaxKeyBytes}" : null;
    }

    private static int? FirstLoneSurrogate(string key)
    {
        for (var i = 0; i < key.Length; i++)
        {
            if (char.IsHighSurrogate(key[i]) && i + 1 < key.Length && char.IsLowSurrogate(key[i + 1]))
            {
                i++;
            }
            else if (char.IsSurrogate(key[i]))
            {
                return i;
            }
        }

        return null;
    }

    /// <summary>Why <paramref name="value"/> is not acceptable, or null when it is.</summary>
    public static string? ValidateValue(ReadOnlySpan<byte> value) =>
        value.Length > MaxValueBytes ? $"the value is {value.Length} bytes; the limit is {MaxValueBytes}" : null;
}

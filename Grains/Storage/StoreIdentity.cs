namespace ActorCluster.Grains.Storage;

/// <summary>
/// Who a store is (TiKV's StoreIdent): the cluster it belongs to and an id drawn when the store was
/// first used. The id lives with the data, so it survives restarts and dies with the disk: a silo
/// that starts on an empty data directory is a new store, whatever its name or address.
/// </summary>
/// <param name="ClusterId">The cluster the store belongs to.</param>
/// <param name="StoreId">The store's id: random, non-zero, never reused.</param>
/// <param name="IsNew">True when this call created the identity (the store was empty).</param>
public sealed record StoreIdentity(string ClusterId, ulong StoreId, bool IsNew)
{
    /// <summary>The id as operators (and grain keys) see it: 16 hex digits.</summary>
    public string StoreHex => Hex(StoreId);

    /// <summary>A store id as operators (and grain keys) see it: 16 hex digits.</summary>
    public static string Hex(ulong storeId) => storeId.ToString("x16", System.Globalization.CultureInfo.InvariantCulture);
}

/// <summary>The store belongs to another cluster; nothing was changed.</summary>
public sealed class StoreIdentityException : Exception
{
    public StoreIdentityException()
    {
    }

    public StoreIdentityException(string message)
        : base(message)
    {
    }

    public StoreIdentityException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}

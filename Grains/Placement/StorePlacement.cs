using System.Globalization;
using ActorCluster.Grains.Storage;
using Orleans.Placement;
using Orleans.Runtime.Placement;

namespace ActorCluster.Grains.Placement;

/// <summary>
/// Places a grain on the silo that owns the store named in its key, and nowhere else: a grain whose
/// state lives on one silo's disk must never be activated, empty, on another. Keys end in
/// <c>@{store id, 16 hex digits}</c> (<see cref="StoreKey"/>); silos publish their store id in
/// Orleans silo metadata (<see cref="StoreKey.MetadataKey"/>).
/// </summary>
[GenerateSerializer, Immutable, Alias("ac.StorePlacement")]
public sealed class StorePlacement : PlacementStrategy
{
    public static StorePlacement Instance { get; } = new();
}

/// <summary>Marks a grain class as placed on the silo of the store its key names.</summary>
[AttributeUsage(AttributeTargets.Class, AllowMultiple = false)]
public sealed class StorePlacementAttribute : PlacementAttribute
{
    public StorePlacementAttribute()
        : base(StorePlacement.Instance)
    {
    }
}

/// <summary>Grain keys that name a store, and the silo metadata that says which silo holds it.</summary>
public static class StoreKey
{
    /// <summary>The silo metadata key under which a silo publishes its store id.</summary>
    public const string MetadataKey = "actorcluster.store";

    /// <summary>A key for <paramref name="name"/> on <paramref name="store"/>.</summary>
    public static string Format(string name, ulong store) => $"{name}@{StoreIdentity.Hex(store)}";

    /// <summary>The store a key names, if it names one.</summary>
    public static bool TryParseStore(string key, out ulong store)
    {
        store = 0;
        var at = key.LastIndexOf('@');
        return at >= 0 && key.Length - at - 1 == 16
            && ulong.TryParse(key.AsSpan(at + 1), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out store)
            && store != 0;
    }
}

/// <summary>This silo's store, once known (null on a silo that holds no store).</summary>
public sealed class LocalStore(StoreIdentity? identity)
{
    public StoreIdentity? Identity { get; } = identity;
}

/// <summary>
/// Chooses the silo of the store named by the grain's key. When no active silo holds that store —
/// it is down, or gone for good — the activation fails at once with
/// <see cref="StoreUnavailableException"/> rather than creating an empty copy elsewhere; the caller
/// tries another replica.
/// </summary>
public sealed class StorePlacementDirector(StoreGrainDirectory stores) : IPlacementDirector
{
    public Task<SiloAddress> OnAddActivation(PlacementStrategy strategy, PlacementTarget target, IPlacementContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var key = target.GrainIdentity.Key.ToString();
        if (!StoreKey.TryParseStore(key, out var store))
        {
            throw new StoreUnavailableException($"'{key}' names no store.");
        }

        // The same answer as the store directory's, and only on a silo that can run the grain.
        if (stores.HostOf(target.GrainIdentity) is { } host && context.GetCompatibleSilos(target).Contains(host))
        {
            return Task.FromResult(host);
        }

        throw new StoreUnavailableException($"Store {StoreIdentity.Hex(store)} is on no active silo: '{key}' cannot be activated anywhere else.");
    }
}

/// <summary>The store a grain lives on is on no active silo (down, or gone); nothing was activated.</summary>
[GenerateSerializer, Alias("ac.StoreUnavailableException")]
public sealed class StoreUnavailableException : OrleansException
{
    public StoreUnavailableException()
    {
    }

    public StoreUnavailableException(string message)
        : base(message)
    {
    }

    public StoreUnavailableException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}

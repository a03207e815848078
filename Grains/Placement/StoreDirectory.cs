using ActorCluster.Grains.Ring;
using Orleans.Runtime.MembershipService.SiloMetadata;

namespace ActorCluster.Grains.Placement;

/// <summary>
/// Which stores are live (held by an active silo, as its silo metadata says), since when the live
/// set has been what it is, and for how long each store that went missing has been missing. Shard
/// leaders read it to decide replacements and moves; thread-safe.
/// </summary>
public sealed class StoreDirectory(IClusterMembershipService membership, LocalStore localStore, ILocalSiloDetails localSilo, IServiceProvider services)
{
    private readonly Lock _gate = new();
    private readonly Dictionary<ulong, DateTime> _missingSince = [];
    private HashSet<ulong> _live = [];
    private DateTime _liveSince = DateTime.UtcNow;
    private DateTime _lastLook = DateTime.MinValue;
    private (HashSet<ulong> Stores, int Shards, int Factor, ReplicaPlacement Placement)? _placement;

    /// <summary>
    /// The live stores now, and how long the set has been unchanged. Complete is false while some
    /// active silo's store is not known yet (its metadata has not arrived): then no store may be
    /// taken for dead.
    /// </summary>
    public (IReadOnlySet<ulong> Live, TimeSpan StableFor, bool Complete) Live()
    {
        var now = DateTime.UtcNow;
        var live = new HashSet<ulong>();
        if (localStore.Identity is { } local)
        {
            live.Add(local.StoreId);
        }

        var metadata = (ISiloMetadataCache?)services.GetService(typeof(ISiloMetadataCache));
        var complete = true;
        foreach (var member in membership.CurrentSnapshot.Members.Values)
        {
            if (member.Status != SiloStatus.Active)
            {
                continue;
            }

            if (metadata?.GetSiloMetadata(member.SiloAddress).Metadata.TryGetValue(StoreKey.MetadataKey, out var hex) == true
                && ulong.TryParse(hex, System.Globalization.NumberStyles.AllowHexSpecifier, System.Globalization.CultureInfo.InvariantCulture, out var store))
            {
                live.Add(store);
            }
            else if (!member.SiloAddress.Equals(localSilo.SiloAddress))
            {
                complete = false;
            }
        }

        lock (_gate)
        {
            if (!live.SetEquals(_live))
            {
                foreach (var gone in _live.Except(live))
                {
                    _missingSince.TryAdd(gone, now);
                }

                foreach (var back in live)
                {
                    _missingSince.Remove(back);
                }

                _live = live;
                _liveSince = now;
            }

            return (live, now - _liveSince, complete);
        }
    }

    /// <summary>
    /// Whether <paramref name="store"/> was live at the last look (refreshed at most twice a
    /// second): senders skip peers whose store is gone rather than fail a placement per message.
    /// </summary>
    public bool IsLive(ulong store)
    {
        var now = DateTime.UtcNow;
        HashSet<ulong> live;
        lock (_gate)
        {
            live = _live;
            if (now - _lastLook < TimeSpan.FromMilliseconds(500) && live.Count > 0)
            {
                return live.Contains(store);
            }

            _lastLook = now;
        }

        return Live().Live.Contains(store);
    }

    /// <summary>
    /// How long <paramref name="store"/> has been missing: zero when live; for a store never seen
    /// live by this silo, the time since it was first asked about.
    /// </summary>
    public TimeSpan MissingFor(ulong store)
    {
        var (live, _, _) = Live();
        if (live.Contains(store))
        {
            return TimeSpan.Zero;
        }

        lock (_gate)
        {
            var since = _missingSince.TryGetValue(store, out var at) ? at : _missingSince[store] = DateTime.UtcNow;
            return DateTime.UtcNow - since;
        }
    }

    /// <summary>The placement over <paramref name="live"/> (computed once per live set).</summary>
    public ReplicaPlacement PlacementOver(IReadOnlySet<ulong> live, int shards, int replicationFactor)
    {
        lock (_gate)
        {
            if (_placement is { } cached && cached.Shards == shards && cached.Factor == replicationFactor && cached.Stores.SetEquals(live))
            {
                return cached.Placement;
            }

            var placement = ReplicaPlacement.Compute(live.ToArray(), shards, replicationFactor);
            _placement = (live.ToHashSet(), shards, replicationFactor, placement);
            return placement;
        }
    }
}

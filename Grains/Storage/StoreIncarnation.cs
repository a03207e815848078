using System.Globalization;
using Microsoft.Extensions.Logging;

namespace ActorCluster.Grains.Storage;

/// <summary>
/// Catches a store whose state went back in time: a data directory restored from a backup, or
/// copied from another silo's past. Such a store keeps its id and would load its replicas' old
/// state as if current: their votes and acknowledgements forgotten (amnesia), which can elect a
/// leader without acknowledged writes. So every store carries an incarnation, raised when its
/// silo starts and every <see cref="RenewInterval"/> while it runs — on its own disk first, then
/// in the cluster's record (the metadata database). A store whose incarnation is behind the record
/// is not current: the silo sets its data aside and starts on a new, empty store, and the old
/// store's replicas are replaced by membership change, as for a lost disk.
/// </summary>
/// <remarks>
/// A backup taken less than <see cref="RenewInterval"/> before the store's last renewal is not
/// told from the store itself. Restoring a whole cluster (metadata and every store) is the other
/// case: the record may then be newer than the stores; empty <c>ac_cluster_store</c> in the
/// metadata database before the silos start (the README says how), and each store's incarnation
/// is taken as it is.
/// </remarks>
public sealed partial class StoreIncarnation
{
    /// <summary>How often a running silo raises its store's incarnation.</summary>
    public static readonly TimeSpan RenewInterval = TimeSpan.FromSeconds(30);

    private readonly AdoReplicaStore _store;
    private readonly StorageOptions _metadata;
    private long _current;

    private StoreIncarnation(AdoReplicaStore store, StoreIdentity identity, StorageOptions metadata, long current)
    {
        _store = store;
        Identity = identity;
        _metadata = metadata;
        _current = current;
    }

    /// <summary>The store's identity.</summary>
    public StoreIdentity Identity { get; }

    /// <summary>The store, open.</summary>
    public AdoReplicaStore Store => _store;

    /// <summary>The incarnation the store is at.</summary>
    public long Current => Interlocked.Read(ref _current);

    /// <summary>Where a store found not current was set aside, or null.</summary>
    public string? SetAside { get; private init; }

    /// <summary>
    /// Opens the silo's own store (<paramref name="own"/>), identifies it in
    /// <paramref name="clusterId"/> and checks its incarnation against the cluster's record in
    /// <paramref name="metadata"/>. A store behind the record is moved aside (into a
    /// <c>restored-*</c> directory under its data directory) and a new, empty store takes its place.
    /// The store's incarnation is then raised, on the store and in the record.
    /// </summary>
    public static async Task<StoreIncarnation> OpenAsync(StorageOptions own, StorageOptions metadata, string clusterId, StoreFaults? faults, ILogger logger, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(own);
        ArgumentNullException.ThrowIfNull(metadata);
        ArgumentNullException.ThrowIfNull(logger);
        if (own.Provider != StorageProvider.Sqlite)
        {
            throw new ArgumentException("A silo's own store is SQLite in its data directory.", nameof(own));
        }

        string? setAside = null;
        AdoReplicaStore? store = await AdoReplicaStore.OpenAsync(own, faults, cancellationToken).ConfigureAwait(false);
        try
        {
            var identity = await store.IdentifyAsync(clusterId, cancellationToken).ConfigureAwait(false);
            var local = await store.ReadIncarnationAsync(cancellationToken).ConfigureAwait(false);
            var recorded = await AdoReplicaStore.RecordedIncarnationAsync(metadata, identity.StoreId, cancellationToken).ConfigureAwait(false);
            if (recorded is { } known && known > local)
            {
                var behind = store;
                store = null;
                await behind.DisposeAsync().ConfigureAwait(false);
                setAside = SetAsideData(own.DataDirectory);
                LogNotCurrent(logger, identity.StoreHex, local, known, setAside);
                store = await AdoReplicaStore.OpenAsync(own, faults, cancellationToken).ConfigureAwait(false);
                identity = await store.IdentifyAsync(clusterId, cancellationToken).ConfigureAwait(false);
                local = 0;
                recorded = null;
            }

            var next = Math.Max(local, recorded ?? 0) + 1;
            await store.RaiseIncarnationAsync(next, cancellationToken).ConfigureAwait(false);
            await AdoReplicaStore.RecordIncarnationAsync(metadata, identity.StoreId, next, cancellationToken).ConfigureAwait(false);
            return new StoreIncarnation(store, identity, metadata, next) { SetAside = setAside };
        }
        catch
        {
            if (store is not null)
            {
                await store.DisposeAsync().ConfigureAwait(false);
            }

            throw;
        }
    }

    /// <summary>Raises the incarnation once: on the store, durably, then in the cluster's record.</summary>
    public async Task RenewAsync(CancellationToken cancellationToken = default)
    {
        var next = Interlocked.Increment(ref _current);
        await _store.RaiseIncarnationAsync(next, cancellationToken).ConfigureAwait(false);
        await AdoReplicaStore.RecordIncarnationAsync(_metadata, Identity.StoreId, next, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Moves a data directory's database files into a new <c>restored-{time}</c> directory inside it; returns that directory.</summary>
    private static string SetAsideData(string dataDirectory)
    {
        var full = Path.GetFullPath(dataDirectory);
        var aside = Path.Combine(full, $"restored-{DateTime.UtcNow.ToString("yyyyMMdd'T'HHmmss'Z'", CultureInfo.InvariantCulture)}");
        Directory.CreateDirectory(aside);
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        // The database itself goes last: should a move fail, the silo stops (exit 3) with the old
        // database still whole where it was, never a new one beside the old one's journal.
        foreach (var file in Directory.EnumerateFiles(full, "replicas.db*").OrderBy(f => Path.GetFileName(f) == "replicas.db" ? 1 : 0))
        {
            File.Move(file, Path.Combine(aside, Path.GetFileName(file)));
        }

        return aside;
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Store {Store} is not current: its incarnation is {Local}, and the cluster recorded {Recorded} (restored from a backup, or copied). Its data is set aside in {SetAside}; this silo starts on a new, empty store, and the old store's replicas are replaced by membership change")]
    private static partial void LogNotCurrent(ILogger logger, string store, long local, long recorded, string setAside);
}

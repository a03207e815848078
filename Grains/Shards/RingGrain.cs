using ActorCluster.Grains.Interfaces;
using ActorCluster.Grains.Replicas;
using ActorCluster.Grains.Ring;
using Microsoft.Extensions.Options;

namespace ActorCluster.Grains.Shards;

/// <summary>
/// Holds the cluster's metadata durably (Orleans grain persistence over ADO.NET): the ring's shape,
/// the stores that have joined, where each shard's founding replicas were placed, and each shard's
/// newest configuration as its leaders report it. The first
/// activation records the configured shape; later ones keep what was recorded, because changing the
/// shard count of a cluster with data would route keys to the wrong shards. Replica state is not
/// here: it lives on the stores.
/// </summary>
public sealed class RingGrain(
    [PersistentState("ring", RingGrain.StorageName)] IPersistentState<RingGrain.RingState> state,
    IOptions<RingOptions> ringOptions) : Grain, IRingGrain
{
    public const string StorageName = "ringStore";

    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        if (!state.RecordExists)
        {
            var options = ringOptions.Value;
            state.State = new RingState { Shards = options.Shards, ReplicationFactor = options.ReplicationFactor, Epoch = 1 };
            await state.WriteStateAsync(cancellationToken);
        }
    }

    public Task<RingDescriptor> GetRing() =>
        Task.FromResult(new RingDescriptor(state.State.Shards, state.State.ReplicationFactor, state.State.Epoch));

    public async Task<RingFounders?> RegisterStore(ulong store, string siloName)
    {
        ArgumentOutOfRangeException.ThrowIfZero(store);
        var changed = false;
        if (!state.State.Stores.TryGetValue(store, out var known) || known != siloName)
        {
            state.State.Stores[store] = siloName;
            changed = true;
        }

        if (state.State.Founders is null && state.State.Stores.Count >= state.State.ReplicationFactor)
        {
            // Decided once: every shard's founders over the stores registered now.
            var placement = ReplicaPlacement.Compute(state.State.Stores.Keys.ToArray(), state.State.Shards, state.State.ReplicationFactor);
            state.State.Founders = [.. Enumerable.Range(0, state.State.Shards).Select(s => placement.ReplicasOf(s).ToArray())];
            changed = true;
        }

        if (changed)
        {
            await state.WriteStateAsync();
        }

        return state.State.Founders is { } founders ? new RingFounders(founders) : null;
    }

    public Task<RingFounders?> GetFounders() =>
        Task.FromResult(state.State.Founders is { } founders ? new RingFounders(founders) : null);

    public async Task ReportMembers(int shard, ShardMembers members)
    {
        ArgumentNullException.ThrowIfNull(members);
        ArgumentOutOfRangeException.ThrowIfNegative(shard);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(shard, state.State.Shards);
        if (members.Ids.Length == 0 || members.Ids.Length != members.Stores.Length || members.Ids.Length != members.Voters.Length)
        {
            throw new ArgumentException($"shard {shard}: a configuration needs members, each with a store and a role.", nameof(members));
        }

        if (state.State.Members.TryGetValue(shard, out var known) && known.ConfigIndex >= members.ConfigIndex)
        {
            return;
        }

        state.State.Members[shard] = members;
        await state.WriteStateAsync();
    }

    public Task<ShardMembers?> GetMembers(int shard) => Task.FromResult(MembersOf(shard));

    public Task<ShardMembers[]?> GetAllMembers() =>
        Task.FromResult(state.State.Founders is null ? null : Enumerable.Range(0, state.State.Shards).Select(shard => MembersOf(shard)!).ToArray());

    private ShardMembers? MembersOf(int shard)
    {
        if (state.State.Members.TryGetValue(shard, out var reported))
        {
            return reported;
        }

        if (state.State.Founders is not { } founders || shard < 0 || shard >= founders.Length)
        {
            return null;
        }

        var stores = founders[shard];
        var ids = Enumerable.Range(1, stores.Length).Select(i => (ulong)i).ToArray();
        return new ShardMembers(0, ids, stores, [.. ids.Select(_ => true)], (ulong)ids.Length + 1);
    }

    public Task<IReadOnlyDictionary<ulong, string>> GetStores() =>
        Task.FromResult<IReadOnlyDictionary<ulong, string>>(new Dictionary<ulong, string>(state.State.Stores));

    public async Task<ClusterStatus> GetStatus()
    {
        var hosts = await GrainFactory.GetGrain<IManagementGrain>(0).GetDetailedHosts(onlyActive: true);
        var shards = await Task.WhenAll(Enumerable.Range(0, state.State.Shards).Select(s => GrainFactory.GetGrain<IShardGrain>(s).GetStatus()));
        return new ClusterStatus(
            await GetRing(),
            [.. hosts.Select(h => h.SiloAddress.ToString()).Order()],
            shards,
            hosts.ToDictionary(h => h.SiloAddress.ToString(), h => h.SiloName ?? string.Empty));
    }

    /// <summary>The recorded metadata.</summary>
    [GenerateSerializer, Alias("ac.RingState")]
    public sealed class RingState
    {
        [Id(0)]
        public int Shards { get; set; }

        [Id(1)]
        public int ReplicationFactor { get; set; }

        [Id(2)]
        public long Epoch { get; set; }

        /// <summary>Every store that ever registered, with the silo name it last registered under.</summary>
        [Id(3)]
        public Dictionary<ulong, string> Stores { get; set; } = [];

        /// <summary>Shard -> the stores of founders 1..R; null until the cluster first had R stores.</summary>
        [Id(4)]
        public ulong[][]? Founders { get; set; }

        /// <summary>Shard -> the newest committed configuration its leaders reported.</summary>
        [Id(5)]
        public Dictionary<int, ShardMembers> Members { get; set; } = [];
    }
}

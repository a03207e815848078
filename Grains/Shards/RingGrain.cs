using ActorCluster.Grains.Interfaces;
using ActorCluster.Grains.Replicas;
using Microsoft.Extensions.Options;

namespace ActorCluster.Grains.Shards;

/// <summary>
/// Holds the ring configuration durably (Orleans grain persistence over ADO.NET). The first
/// activation records the configured shape; later ones keep what was recorded, because changing the
/// shard count of a cluster with data would route keys to the wrong shards.
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

    public async Task WakeReplicas()
    {
        var wakes = new List<Task>();
        for (var shard = 0; shard < state.State.Shards; shard++)
        {
            for (var slot = 1; slot <= state.State.ReplicationFactor; slot++)
            {
                wakes.Add(GrainFactory.GetGrain<IRaftReplicaGrain>(ReplicaId.Format(shard, slot)).Wake());
            }
        }

        await Task.WhenAll(wakes);
    }

    public async Task<ClusterStatus> GetStatus()
    {
        var hosts = await GrainFactory.GetGrain<IManagementGrain>(0).GetHosts(onlyActive: true);
        var shards = await Task.WhenAll(Enumerable.Range(0, state.State.Shards).Select(s => GrainFactory.GetGrain<IShardGrain>(s).GetStatus()));
        return new ClusterStatus(await GetRing(), [.. hosts.Keys.Select(h => h.ToString()).Order()], shards);
    }

    /// <summary>The recorded ring shape.</summary>
    [GenerateSerializer, Alias("ac.RingState")]
    public sealed class RingState
    {
        [Id(0)]
        public int Shards { get; set; }

        [Id(1)]
        public int ReplicationFactor { get; set; }

        [Id(2)]
        public long Epoch { get; set; }
    }
}

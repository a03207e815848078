using ActorCluster.Grains.Interfaces;
using ActorCluster.Grains.Replicas;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Orleans.Hosting;

/// <summary>
/// When the silo becomes active: checks that the configured ring shape is the one the cluster was
/// created with, and wakes every replica so that shards elect leaders before clients arrive.
/// </summary>
internal sealed partial class RingStartup(IGrainFactory grains, IOptions<RingOptions> ring, ILogger<RingStartup> logger) : ILifecycleParticipant<ISiloLifecycle>
{
    public void Participate(ISiloLifecycle lifecycle) =>
        lifecycle.Subscribe(nameof(RingStartup), ServiceLifecycleStage.Active, OnActiveAsync, _ => Task.CompletedTask);

    private async Task OnActiveAsync(CancellationToken cancellationToken)
    {
        var recorded = await grains.GetGrain<IRingGrain>(IRingGrain.DefaultKey).GetRing().WaitAsync(cancellationToken);
        var configured = ring.Value;
        if (recorded.Shards != configured.Shards || recorded.ReplicationFactor != configured.ReplicationFactor)
        {
            throw new InvalidOperationException(
                $"{RingOptions.Section}: this silo is configured with {configured.Shards} shards x {configured.ReplicationFactor} replicas, " +
                $"but the cluster was created with {recorded.Shards} x {recorded.ReplicationFactor}. Use the cluster's values.");
        }

        // Waking is best effort: a replica that fails to activate now activates on first use.
        try
        {
            await grains.GetGrain<IRingGrain>(IRingGrain.DefaultKey).WakeReplicas().WaitAsync(TimeSpan.FromSeconds(30), cancellationToken);
        }
        catch (Exception e) when (e is TimeoutException or OrleansException)
        {
            LogWakeFailed(e);
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not wake every replica at start-up; they will activate on first use")]
    private partial void LogWakeFailed(Exception error);
}

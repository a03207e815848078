using ActorCluster.Grains.Interfaces;
using ActorCluster.Grains.Replicas;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Orleans.Hosting;

/// <summary>
/// When the silo becomes active: checks that the configured ring shape is the one the cluster was
/// created with, and wakes every replica so that shards elect leaders before clients arrive.
/// </summary>
/// <remarks>
/// Only a real mismatch stops the silo. A cluster too busy to answer (many silos starting at once,
/// say) delays the start by at most <see cref="CheckTimeout"/>, after which the silo starts anyway:
/// refusing to start then would only make the cluster busier.
/// </remarks>
internal sealed partial class RingStartup(IGrainFactory grains, IOptions<RingOptions> ring, ILogger<RingStartup> logger) : ILifecycleParticipant<ISiloLifecycle>
{
    private static readonly TimeSpan CheckTimeout = TimeSpan.FromSeconds(60);
    private static readonly TimeSpan AttemptTimeout = TimeSpan.FromSeconds(10);

    public void Participate(ISiloLifecycle lifecycle) =>
        lifecycle.Subscribe(nameof(RingStartup), ServiceLifecycleStage.Active, OnActiveAsync, _ => Task.CompletedTask);

    private async Task OnActiveAsync(CancellationToken cancellationToken)
    {
        var ringGrain = grains.GetGrain<IRingGrain>(IRingGrain.DefaultKey);
        RingDescriptor? recorded = null;
        var deadline = DateTime.UtcNow + CheckTimeout;
        while (recorded is null && DateTime.UtcNow < deadline)
        {
            try
            {
                recorded = await ringGrain.GetRing().WaitAsync(AttemptTimeout, cancellationToken);
            }
            catch (Exception e) when (e is TimeoutException or OrleansException)
            {
                LogRingUnreachable(e.Message);
                await Task.Delay(TimeSpan.FromSeconds(1), cancellationToken);
            }
        }

        var configured = ring.Value;
        if (recorded is not null && (recorded.Shards != configured.Shards || recorded.ReplicationFactor != configured.ReplicationFactor))
        {
            throw new InvalidOperationException(
                $"{RingOptions.Section}: this silo is configured with {configured.Shards} shards x {configured.ReplicationFactor} replicas, " +
                $"but the cluster was created with {recorded.Shards} x {recorded.ReplicationFactor}. Use the cluster's values.");
        }

        // Waking is best effort and need not hold up the start: a replica activates on first use anyway.
        _ = Task.Run(async () =>
        {
            try
            {
                await ringGrain.WakeReplicas().WaitAsync(TimeSpan.FromSeconds(60), CancellationToken.None);
            }
            catch (Exception e) when (e is TimeoutException or OrleansException)
            {
                LogWakeFailed(e);
            }
        }, CancellationToken.None);
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "The ring configuration grain did not answer yet ({Reason}); retrying")]
    private partial void LogRingUnreachable(string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not wake every replica at start-up; they will activate on first use")]
    private partial void LogWakeFailed(Exception error);
}

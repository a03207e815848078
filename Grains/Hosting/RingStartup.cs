using ActorCluster.Grains.Hosting;
using ActorCluster.Grains.Interfaces;
using ActorCluster.Grains.Replicas;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Orleans.Hosting;

/// <summary>
/// When the silo becomes active: checks that the configured ring shape is the one the cluster was
/// created with, opens the <see cref="RingGate"/> (until then no replica of this silo loads), and
/// wakes every replica so that shards elect leaders before clients arrive.
/// </summary>
/// <remarks>
/// A mismatch stops the silo, and so does a ring that cannot be read within
/// <see cref="RingOptions.StartupCheckSeconds"/>: a silo that cannot tell whether its ring is the
/// cluster's must not host replicas. Either way the start fails with a <see cref="RingMismatchException"/>.
/// </remarks>
internal sealed partial class RingStartup(IGrainFactory grains, IOptions<RingOptions> ring, RingGate gate, ILogger<RingStartup> logger) : ILifecycleParticipant<ISiloLifecycle>
{
    private static readonly TimeSpan AttemptTimeout = TimeSpan.FromSeconds(10);

    public void Participate(ISiloLifecycle lifecycle) =>
        lifecycle.Subscribe(nameof(RingStartup), ServiceLifecycleStage.Active, OnActiveAsync, OnStopAsync);

    private async Task OnActiveAsync(CancellationToken cancellationToken)
    {
        var ringGrain = grains.GetGrain<IRingGrain>(IRingGrain.DefaultKey);
        var configured = ring.Value;
        RingDescriptor? recorded = null;
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(configured.StartupCheckSeconds);
        Exception? lastError = null;
        while (recorded is null && DateTime.UtcNow < deadline)
        {
            try
            {
                recorded = await ringGrain.GetRing().WaitAsync(AttemptTimeout, cancellationToken);
            }
            catch (Exception e) when (e is TimeoutException or OrleansException)
            {
                lastError = e;
                LogRingUnreachable(e.Message);
                await Task.Delay(TimeSpan.FromSeconds(1), cancellationToken);
            }
        }

        if (recorded is null)
        {
            throw Refuse(new RingMismatchException(
                $"{RingOptions.Section}: could not read the cluster's ring within {configured.StartupCheckSeconds}s ({lastError?.Message}); " +
                "refusing to host replicas without knowing the ring is the cluster's.", lastError!));
        }

        if (recorded.Shards != configured.Shards || recorded.ReplicationFactor != configured.ReplicationFactor)
        {
            throw Refuse(new RingMismatchException(
                $"{RingOptions.Section}: this silo is configured with {configured.Shards} shards x {configured.ReplicationFactor} replicas, " +
                $"but the cluster was created with {recorded.Shards} x {recorded.ReplicationFactor}. Use the cluster's values."));
        }

        gate.Open(recorded);

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

    private Task OnStopAsync(CancellationToken cancellationToken)
    {
        gate.Refuse(new RingMismatchException("The silo stopped before its ring was verified."));
        return Task.CompletedTask;
    }

    private RingMismatchException Refuse(RingMismatchException error)
    {
        LogRefused(error.Message);
        gate.Refuse(error);
        return error;
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "The ring configuration grain did not answer yet ({Reason}); retrying")]
    private partial void LogRingUnreachable(string reason);

    [LoggerMessage(Level = LogLevel.Critical, Message = "Refusing to start: {Reason}")]
    private partial void LogRefused(string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not wake every replica at start-up; they will activate on first use")]
    private partial void LogWakeFailed(Exception error);
}

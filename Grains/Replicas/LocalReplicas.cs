using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace ActorCluster.Grains.Replicas;

/// <summary>
/// The replicas active on this silo, and whether the silo is stopping. When it stops, before
/// Orleans tears anything down, every local replica is asked to hand its leadership over and go
/// quiet, so that shards move on by transfer (no election timeout) and nothing sends into a silo
/// that no longer accepts messages.
/// </summary>
public sealed partial class LocalReplicas(IGrainFactory grains, ILogger<LocalReplicas> logger) : ILifecycleParticipant<ISiloLifecycle>
{
    private static readonly TimeSpan StopBudget = TimeSpan.FromSeconds(5);
    private readonly ConcurrentDictionary<string, byte> _active = new(StringComparer.Ordinal);
    private volatile bool _stopping;

    /// <summary>True from the moment the silo starts to stop.</summary>
    public bool Stopping => _stopping;

    /// <summary>The keys of the replicas active here.</summary>
    public IReadOnlyCollection<string> Active => [.. _active.Keys];

    public void Participate(ISiloLifecycle lifecycle) =>
        lifecycle.Subscribe(nameof(LocalReplicas), ServiceLifecycleStage.Active, _ => Task.CompletedTask, ct => StopAsync(handOver: true, ct));

    /// <summary>
    /// Stops every replica of this silo; with <paramref name="handOver"/>, leaders first hand their
    /// leadership to a replica on another silo. A process that stops all its silos at once quiets
    /// them all first without hand-over (there is nobody to hand over to).
    /// </summary>
    public async Task StopAsync(bool handOver, CancellationToken cancellationToken)
    {
        if (_stopping)
        {
            return;
        }

        _stopping = true;
        var replicas = Active;
        var stops = replicas.Select(async key =>
        {
            try
            {
                await grains.GetGrain<IRaftReplicaGrain>(key).PrepareToStop(handOver).WaitAsync(StopBudget, cancellationToken);
            }
            catch (Exception e) when (e is TimeoutException or OrleansException or OperationCanceledException)
            {
                LogStopFailed(key, e.Message);
            }
        });
        await Task.WhenAll(stops);
        LogStopped(replicas.Count);
    }

    internal void Add(string replica) => _active[replica] = 0;

    internal void Remove(string replica) => _active.TryRemove(replica, out _);

    [LoggerMessage(Level = LogLevel.Information, Message = "The silo is stopping: {Count} local replicas stopped")]
    private partial void LogStopped(int count);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Replica {Replica} did not stop cleanly before the silo went: {Reason}")]
    private partial void LogStopFailed(string replica, string reason);
}

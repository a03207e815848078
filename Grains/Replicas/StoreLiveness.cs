using System.Collections.Concurrent;
using System.Diagnostics;
using ActorCluster.Grains.Placement;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Concurrency;
using Orleans.GrainDirectory;

namespace ActorCluster.Grains.Replicas;

/// <summary>
/// A pulse from one store's silo to another's: one-way, so what counts is what a silo hears, in the
/// direction Raft's heartbeats travel. Fault injection drops it with the Raft traffic it stands for.
/// </summary>
/// <remarks>
/// <see cref="SenderGeneration"/> is the sending silo's incarnation: a change tells the receiver
/// the store's silo restarted, however quickly, and its replicas lost what they held in memory.
/// </remarks>
[GenerateSerializer, Immutable, Alias("ac.StorePulse")]
public sealed record StorePulse([property: Id(0)] string? SenderSilo, [property: Id(1)] ulong SenderStore, [property: Id(2)] int SenderGeneration = 0) : IRaftTraffic;

/// <summary>Takes store liveness pulses on the silo of the store its key names (<c>pulse@{store}</c>).</summary>
[Alias("ac.IStorePulseGrain")]
public interface IStorePulseGrain : IGrainWithStringKey
{
    [OneWay]
    Task Pulse(StorePulse pulse);
}

[Reentrant]
[StorePlacement]
[GrainDirectory(StoreGrainDirectory.Name)]
public sealed class StorePulseGrain(StoreLiveness liveness) : Grain, IStorePulseGrain
{
    public Task Pulse(StorePulse pulse)
    {
        ArgumentNullException.ThrowIfNull(pulse);
        liveness.Heard(pulse.SenderStore, pulse.SenderGeneration);
        return Task.CompletedTask;
    }
}

/// <summary>
/// Store liveness (after CockroachDB's): each silo pulses every other live store's silo, one one-way
/// call per silo pair per <see cref="ReplicaOptions.PulseMilliseconds"/>, whatever the number of
/// shards. A store not heard from for <see cref="ReplicaOptions.SuspectMilliseconds"/> is suspected,
/// and every local replica is told: a quiesced follower whose leader lives there wakes and, an
/// election timeout after it last heard from that leader, campaigns; a quiesced leader with a
/// member there wakes and heartbeats. Quiesced groups send no heartbeats of their own, so without
/// this a dead leader's shard would wait for traffic, and a leader would never learn that a
/// member came back without its state. A store heard from a new incarnation of its silo (a restart
/// quicker than the suspicion) is treated the same.
/// </summary>
public sealed partial class StoreLiveness(
    StoreDirectory stores,
    LocalStore localStore,
    LocalReplicas replicas,
    IGrainFactory grains,
    ILocalSiloDetails localSilo,
    IOptions<ReplicaOptions> options,
    ILogger<StoreLiveness> logger) : ILifecycleParticipant<ISiloLifecycle>, IDisposable
{
    private readonly ConcurrentDictionary<ulong, long> _lastHeard = new();
    private readonly ConcurrentDictionary<ulong, long> _suspectedAt = new();
    private readonly ConcurrentDictionary<ulong, int> _generations = new();
    private readonly CancellationTokenSource _stop = new();
    private Task? _loop;

    public void Dispose() => _stop.Dispose();

    private long _suspicions;

    /// <summary>How many times a store came under suspicion since the silo started.</summary>
    public long Suspicions => Interlocked.Read(ref _suspicions);

    /// <summary>Stores suspected now.</summary>
    public IReadOnlyCollection<ulong> Suspected => [.. _suspectedAt.Keys];

    public void Participate(ISiloLifecycle lifecycle) =>
        lifecycle.Subscribe(nameof(StoreLiveness), ServiceLifecycleStage.Active, StartAsync, StopAsync);

    private Task StartAsync(CancellationToken cancellationToken)
    {
        if (options.Value.Quiesce && localStore.Identity is not null)
        {
            _loop = Task.Run(() => RunAsync(_stop.Token), CancellationToken.None);
        }

        return Task.CompletedTask;
    }

    private async Task StopAsync(CancellationToken cancellationToken)
    {
        await _stop.CancelAsync();
        if (_loop is { } loop)
        {
            await loop.WaitAsync(cancellationToken).ContinueWith(_ => { }, TaskScheduler.Default);
        }
    }

    private async Task RunAsync(CancellationToken cancellationToken)
    {
        var interval = TimeSpan.FromMilliseconds(options.Value.PulseMilliseconds);
        var suspectAfter = TimeSpan.FromMilliseconds(options.Value.SuspectMilliseconds);
        var own = localStore.Identity!.StoreId;
        var pulse = new StorePulse($"{localSilo.SiloAddress.Endpoint.Address}:{localSilo.SiloAddress.Endpoint.Port}", own, localSilo.SiloAddress.Generation);
        using var timer = new PeriodicTimer(interval);
        do
        {
            try
            {
                var now = Stopwatch.GetTimestamp();
                var (live, _, _) = stores.Live();
                foreach (var store in live)
                {
                    if (store != own)
                    {
                        _lastHeard.TryAdd(store, now);
                        grains.GetGrain<IStorePulseGrain>(StoreKey.Format("pulse", store)).Pulse(pulse).Ignore();
                    }
                }

                foreach (var (store, heard) in _lastHeard)
                {
                    var silent = Stopwatch.GetElapsedTime(heard);
                    if (silent < suspectAfter)
                    {
                        continue;
                    }

                    if (!live.Contains(store) && silent > TimeSpan.FromMinutes(5))
                    {
                        // Gone for good: stop tracking it.
                        _lastHeard.TryRemove(store, out _);
                        _suspectedAt.TryRemove(store, out _);
                        continue;
                    }

                    // Newly suspected, or still suspected (then again every few seconds, for
                    // replicas that quiesced under a leader there since).
                    if (!_suspectedAt.TryGetValue(store, out var since) || Stopwatch.GetElapsedTime(since) >= suspectAfter * 5)
                    {
                        if (!_suspectedAt.ContainsKey(store))
                        {
                            Interlocked.Increment(ref _suspicions);
                            LogSuspected(store, (long)silent.TotalMilliseconds);
                        }

                        _suspectedAt[store] = now;
                        WakeReplicasFor(store);
                    }
                }
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                LogFailed(e);
            }
        }
        while (await timer.WaitForNextTickAsync(cancellationToken).ConfigureAwait(false));
    }

    /// <summary>A pulse from <paramref name="store"/>, sent by incarnation <paramref name="generation"/> of its silo, arrived.</summary>
    public void Heard(ulong store, int generation)
    {
        _lastHeard[store] = Stopwatch.GetTimestamp();
        if (_suspectedAt.TryRemove(store, out _))
        {
            LogAnswering(store);
        }

        var known = _generations.GetOrAdd(store, generation);
        if (known != generation && _generations.TryUpdate(store, generation, known))
        {
            // A late pulse from the older incarnation flips it back and wakes the groups once
            // more: harmless, a wake only makes a leader heartbeat.
            LogRestarted(store, known, generation);
            WakeReplicasFor(store);
        }
    }

    private void WakeReplicasFor(ulong store)
    {
        foreach (var key in replicas.Active)
        {
            grains.GetGrain<IRaftReplicaGrain>(key).StoreSuspected(store).Ignore();
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Store {Store:x16} has not been heard from for {Milliseconds} ms: waking quiesced groups with members there")]
    private partial void LogSuspected(ulong store, long milliseconds);

    [LoggerMessage(Level = LogLevel.Information, Message = "Store {Store:x16} is heard from a new incarnation of its silo ({Old} -> {New}): waking quiesced groups with members there")]
    private partial void LogRestarted(ulong store, int old, int @new);

    [LoggerMessage(Level = LogLevel.Information, Message = "Store {Store:x16} is heard from again")]
    private partial void LogAnswering(ulong store);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Store liveness round failed")]
    private partial void LogFailed(Exception error);
}

using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using ActorCluster.Grains.Interfaces;
using ActorCluster.Grains.Interfaces.Kv;
using ActorCluster.Grains.Interfaces.Ring;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Orleans.Configuration;
using Orleans.Serialization;

namespace ActorCluster.Client;

/// <summary>A value and its version (the log index of the write that set it).</summary>
public readonly record struct KvEntry(byte[] Value, ulong Version);

/// <summary>The outcome of a compare-and-swap: on failure, the key's current version (0 if absent).</summary>
public readonly record struct CasResult(bool Succeeded, ulong Version);

/// <summary>
/// The ActorCluster client: linearizable put, get, delete and compare-and-swap. Routes each key
/// straight to its shard's grain with the cluster's ring. Writes run in a session per shard (opened
/// on the first write to that shard) and carry a sequence number, so a retried write applies at
/// most once. Thread-safe; share one instance.
/// </summary>
/// <remarks>
/// Failures are typed (<see cref="ActorClusterException"/>). A write that failed after it may have
/// reached the cluster reports <see cref="ActorClusterException.OutcomeUnknown"/>: it may have been
/// applied (once) or not, and only reading the key tells. Only a failure that provably happened
/// before anything of the write was sent (bad input, no session could be opened) is "not applied".
/// A write cancelled through its token throws <see cref="OperationCanceledException"/>; if it was
/// cancelled after it was sent, it too may have been applied.
/// </remarks>
public sealed class ActorClusterClient : IAsyncDisposable
{
    /// <summary>
    /// The source of the client's spans: one per operation (<c>actorcluster put</c>, <c>get</c>,
    /// <c>delete</c>, <c>cas</c>), the root of the trace that follows the operation through the
    /// silos. Add it to a tracer provider, with the silos' sources, to record them.
    /// </summary>
    public const string ActivitySourceName = "ActorCluster.Client";

    internal static readonly ActivitySource Source = new(ActivitySourceName);

    private readonly IClusterClient? _cluster;
    private readonly Func<int, IShardGrain> _shards;
    private readonly IHost? _host;
    private readonly ActorClusterClientOptions _options;
    private readonly KeyRing _ring;
    private readonly ConcurrentDictionary<int, Task<ShardSession>> _sessions = new();
    private readonly OperationBatcher? _batcher;

    private ActorClusterClient(IClusterClient? cluster, Func<int, IShardGrain> shards, IHost? host, ActorClusterClientOptions options, RingDescriptor ring)
    {
        _cluster = cluster;
        _shards = shards;
        _host = host;
        _options = options;
        Ring = ring;
        _ring = KeyRing.Uniform(ring.Shards, ring.Epoch);
        _batcher = options.BatchCallsPerShard > 0
            ? new OperationBatcher(shards, options.BatchCallsPerShard, options.MaxBatchOperations, options.MaxBatchBytes)
            : null;
    }

    /// <summary>Grain calls sent for operations so far, and the operations they carried (equal when batching is off or idle).</summary>
    public (long Calls, long Operations) CallsSent => _batcher?.Sent ?? (0, 0);

    /// <summary>The ring the cluster routes by.</summary>
    public RingDescriptor Ring { get; }

    /// <summary>The underlying Orleans client, for status queries.</summary>
    public IClusterClient Cluster => _cluster ?? throw new InvalidOperationException("This client was built over bare shard grains.");

    /// <summary>Connects to the cluster's gateways (or its PostgreSQL membership) and reads its ring.</summary>
    /// <exception cref="ClusterUnavailableException">No gateway answered.</exception>
    public static async Task<ActorClusterClient> ConnectAsync(ActorClusterClientOptions options, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        var builder = Host.CreateApplicationBuilder();
        builder.Logging.ClearProviders();
        builder.UseOrleansClient(client =>
        {
            client.Configure<ClusterOptions>(o =>
            {
                o.ClusterId = options.ClusterId;
                o.ServiceId = options.ServiceId;
            });
            if (options.ConfigureClustering is { } configure)
            {
                configure(client);
            }
            else
            {
                IEnumerable<string> gateways = options.Gateways.Count > 0 ? options.Gateways : ActorClusterClientOptions.LocalGateways;
                client.UseStaticClustering([.. gateways.Select(Resolve)]);
            }

            client.AddActivityPropagation();
            options.ConfigureClient?.Invoke(client);
        });
        var host = builder.Build();
        try
        {
            await host.StartAsync(cancellationToken).WaitAsync(options.Timeout, cancellationToken);
            var cluster = host.Services.GetRequiredService<IClusterClient>();
            var ring = await cluster.GetGrain<IRingGrain>(IRingGrain.DefaultKey).GetRing().WaitAsync(options.Timeout, cancellationToken);
            return new ActorClusterClient(cluster, shard => cluster.GetGrain<IShardGrain>(shard), host, options, ring);
        }
        catch (Exception e) when (e is OrleansException or TimeoutException or System.Net.Sockets.SocketException or InvalidOperationException or UnavailableExceptionFallbackException)
        {
            host.Dispose();
            throw new ClusterUnavailableException($"Cannot reach the cluster: {e.Message}", e);
        }
    }

    /// <summary>Wraps an Orleans client that is already connected (tests, hosts that share a client).</summary>
    public static async Task<ActorClusterClient> FromClusterClientAsync(IClusterClient cluster, ActorClusterClientOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(cluster);
        options ??= new ActorClusterClientOptions();
        options.Validate();
        var ring = await cluster.GetGrain<IRingGrain>(IRingGrain.DefaultKey).GetRing().WaitAsync(options.Timeout);
        return new ActorClusterClient(cluster, shard => cluster.GetGrain<IShardGrain>(shard), null, options, ring);
    }

    /// <summary>A client over the given shard grains (for tests of the client's own logic).</summary>
    internal static ActorClusterClient OverShards(Func<int, IShardGrain> shards, RingDescriptor ring, ActorClusterClientOptions options)
    {
        options.Validate();
        return new ActorClusterClient(null, shards, null, options, ring);
    }

    /// <summary>The shard that holds <paramref name="key"/>.</summary>
    public int ShardOf(string key) => _ring.ShardOf(key);

    /// <summary>
    /// Where <paramref name="key"/> lives: its position on the ring (the 64-bit hash of its UTF-8
    /// bytes), the arc of the ring holding that position and the shard owning it, and that shard's
    /// replicas as they answer now (their silos, stores and roles) with its leader, 0 when none.
    /// </summary>
    /// <exception cref="InvalidKeyException">The key is empty or too long.</exception>
    /// <exception cref="ClusterUnavailableException">The shard's router did not answer in time.</exception>
    public async Task<KeyLocation> LocateAsync(string key, CancellationToken cancellationToken = default)
    {
        ValidateKey(key);
        var hash = KeyRing.Hash(key);
        var (start, end, shard) = _ring.ArcAt(hash);
        ShardStatus status;
        try
        {
            status = await _shards(shard).GetStatus().WaitAsync(_options.Timeout, cancellationToken);
        }
        catch (Exception e) when (e is TimeoutException or OrleansException or UnavailableExceptionFallbackException)
        {
            throw new ClusterUnavailableException($"Shard {shard}, which holds the key, did not say where its replicas are within {_options.Timeout.TotalSeconds:0.#}s ({e.GetType().Name}).", e);
        }

        return new KeyLocation(key, hash, shard, start, end, status.Leader, status.Replicas);
    }

    /// <summary>Sets <paramref name="key"/> to <paramref name="value"/>; returns the new version.</summary>
    public async Task<ulong> PutAsync(string key, byte[] value, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(value);
        var response = await WriteAsync(WriteKind.Put, key, value, 0, cancellationToken);
        return response.Version;
    }

    /// <summary>Reads <paramref name="key"/>; null when it does not exist.</summary>
    public async Task<KvEntry?> GetAsync(string key, ReadConsistency consistency = ReadConsistency.Linearizable, CancellationToken cancellationToken = default)
    {
        ValidateKey(key);
        var shardNumber = _ring.ShardOf(key);
        var shard = _shards(shardNumber);
        using var span = StartSpan("get", shardNumber);
        KvResponse response;
        try
        {
            (response, _) = await WithRetriesAsync(
                (attempt, deadline) => attempt == 1 && _batcher is { } batcher ? batcher.Read(shardNumber, key, consistency, deadline, cancellationToken) : shard.Read(key, consistency),
                isWrite: false,
                cancellationToken);
        }
        catch (Exception e) when (Failed(span, e))
        {
            throw;
        }

        if (response.Status == KvStatus.InvalidRequest)
        {
            throw new InvalidKeyException(response.Error ?? "invalid request");
        }

        return response.Status == KvStatus.Ok ? new KvEntry(response.Value ?? [], response.Version) : null;
    }

    /// <summary>Deletes <paramref name="key"/>; false when it did not exist.</summary>
    public async Task<bool> DeleteAsync(string key, CancellationToken cancellationToken = default)
    {
        var response = await WriteAsync(WriteKind.Delete, key, null, 0, cancellationToken);
        return response.Status == KvStatus.Ok;
    }

    /// <summary>
    /// Sets <paramref name="key"/> to <paramref name="newValue"/> (or deletes it, when null) only if
    /// its version is <paramref name="expectedVersion"/> (0: only if it does not exist).
    /// </summary>
    public async Task<CasResult> CompareAndSwapAsync(string key, ulong expectedVersion, byte[]? newValue, CancellationToken cancellationToken = default)
    {
        var response = await WriteAsync(WriteKind.CompareAndSwap, key, newValue, expectedVersion, cancellationToken);
        return new CasResult(response.Status == KvStatus.Ok, response.Version);
    }

    /// <summary>Stops the Orleans client this instance started (one it was given is left to its owner).</summary>
    public async ValueTask DisposeAsync()
    {
        if (_host is not null)
        {
            try
            {
                await _host.StopAsync(TimeSpan.FromSeconds(5));
            }
            catch (OperationCanceledException)
            {
                // Shutting down a client whose cluster is gone: nothing to wait for.
            }

            _host.Dispose();
        }
    }

    private async Task<KvResponse> WriteAsync(WriteKind kind, string key, byte[]? value, ulong expectedVersion, CancellationToken cancellationToken)
    {
        ValidateKey(key);
        if (value is not null && KeyRules.ValidateValue(value) is { } valueError)
        {
            throw new ValueTooLargeException(valueError);
        }

        var shardNumber = _ring.ShardOf(key);
        using var span = StartSpan(kind switch { WriteKind.Put => "put", WriteKind.Delete => "delete", _ => "cas" }, shardNumber);
        try
        {
            return await WriteInSessionAsync(kind, key, value, expectedVersion, shardNumber, cancellationToken);
        }
        catch (Exception e) when (Failed(span, e))
        {
            throw;
        }
    }

    private async Task<KvResponse> WriteInSessionAsync(WriteKind kind, string key, byte[]? value, ulong expectedVersion, int shardNumber, CancellationToken cancellationToken)
    {
        var shard = _shards(shardNumber);
        for (var renewed = false; ; renewed = true)
        {
            var session = await SessionAsync(shardNumber, cancellationToken);
            var (sequence, completedBelow) = session.Begin();
            try
            {
                var request = new WriteRequest(kind, key, value, expectedVersion, session.Id, sequence, completedBelow, session.Token);
                var (response, attempts) = await WithRetriesAsync(
                    (attempt, deadline) => attempt == 1 && _batcher is { } batcher ? batcher.Write(shardNumber, request, deadline, cancellationToken) : shard.Write(request),
                    isWrite: true,
                    cancellationToken);
                switch (response.Status)
                {
                    case KvStatus.SessionExpired:
                        ForgetSession(shardNumber, session);
                        if (attempts == 1 && !renewed)
                        {
                            // The first and only attempt found no session: nothing of this write was
                            // applied, so it is safe to send it again in a new session.
                            continue;
                        }

                        throw new SessionExpiredException(
                            $"The session on shard {shardNumber} is gone ({response.Error}); " + (attempts > 1 ? "an earlier attempt of this write may have been applied." : "the write was not applied."),
                            outcomeUnknown: attempts > 1);
                    case KvStatus.SessionNotOwned:
                        // Never for a session this client opened: its token is the session's.
                        ForgetSession(shardNumber, session);
                        throw new SessionExpiredException(
                            $"Shard {shardNumber} refused this client's session token ({response.Error}); " + (attempts > 1 ? "an earlier attempt of this write may have been applied." : "the write was not applied."),
                            outcomeUnknown: attempts > 1);
                    case KvStatus.InvalidRequest:
                        throw new InvalidKeyException(response.Error ?? "invalid request");
                    case KvStatus.NoSpace:
                        throw new QuotaExceededException(response.Error ?? $"shard {shardNumber} is full");
                    default:
                        return response;
                }
            }
            finally
            {
                session.End(sequence);
            }
        }
    }

    /// <summary>This client's session on <paramref name="shard"/>, opened on first use.</summary>
    private async Task<ShardSession> SessionAsync(int shard, CancellationToken cancellationToken)
    {
        var pending = _sessions.GetOrAdd(shard, OpenSessionAsync);
        try
        {
            return await pending.WaitAsync(cancellationToken);
        }
        catch (Exception)
        {
            // Opening failed (or this caller gave up waiting): forget a failed open, so that the
            // next write tries again. Nothing of the write itself was sent.
            if (pending.IsFaulted || pending.IsCanceled)
            {
                _sessions.TryRemove(KeyValuePair.Create(shard, pending));
            }

            throw;
        }
    }

    private async Task<ShardSession> OpenSessionAsync(int shard)
    {
        var grain = _shards(shard);
        // An open whose answer was lost leaves a session nobody uses; it expires. So opening is
        // retried like a read, and its failure says nothing about the write that needed it.
        var token = SessionTokens.Create();
        var (response, _) = await WithRetriesAsync((_, _) => grain.Write(WriteRequest.OpenSession(token)), isWrite: false, CancellationToken.None);
        if (response.Status != KvStatus.Ok || response.Version == 0)
        {
            throw new ClusterUnavailableException($"Shard {shard} did not open a session: {response.Status} {response.Error}");
        }

        return new ShardSession(response.Version, token);
    }

    private void ForgetSession(int shard, ShardSession session)
    {
        if (_sessions.TryGetValue(shard, out var current) && current.IsCompletedSuccessfully && ReferenceEquals(current.Result, session))
        {
            _sessions.TryRemove(KeyValuePair.Create(shard, current));
        }
    }

    /// <summary>Marks <paramref name="span"/> failed with <paramref name="error"/>; never catches it.</summary>
    private static bool Failed(Activity? span, Exception error)
    {
        span?.SetStatus(ActivityStatusCode.Error, error.Message).SetTag("error.type", error.GetType().FullName);
        return false;
    }

    private static Activity? StartSpan(string operation, int shard)
    {
        var span = Source.StartActivity($"actorcluster {operation}", ActivityKind.Client);
        span?.SetTag("db.system.name", "actorcluster").SetTag("db.operation.name", operation).SetTag("actorcluster.shard", shard);
        return span;
    }

    /// <summary>
    /// Sends <paramref name="call"/> until it gets an answer other than "unavailable", backing off
    /// between attempts, within the client's timeout and retry budget. Returns the answer and how
    /// many attempts were sent. <paramref name="call"/> gets the attempt's number (from 1) and the
    /// deadline: first attempts travel in batches, retries alone, so that a retry never waits
    /// behind the calls that just failed it.
    /// </summary>
    private async Task<(KvResponse Response, int Attempts)> WithRetriesAsync(Func<int, DateTime, Task<KvResponse>> call, bool isWrite, CancellationToken cancellationToken)
    {
        var deadline = DateTime.UtcNow + _options.Timeout;
        Exception? lastError = null;
        string? lastReason = null;
        var attempts = 0;
        for (var attempt = 0; attempt <= _options.Retries; attempt++)
        {
            if (attempt > 0)
            {
                var pause = Backoff(attempt, deadline - DateTime.UtcNow);
                if (pause > TimeSpan.Zero)
                {
                    await Task.Delay(pause, cancellationToken);
                }
            }

            var remaining = deadline - DateTime.UtcNow;
            if (remaining <= TimeSpan.Zero)
            {
                break;
            }

            // From here on the request may reach the cluster, whatever happens to the answer.
            attempts++;
            try
            {
                var response = await call(attempts, deadline).WaitAsync(remaining, cancellationToken);
                if (response.Status != KvStatus.Unavailable)
                {
                    return (response, attempts);
                }

                (lastReason, lastError) = (response.Error, null);
            }
            catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
            {
                // SiloUnavailableException and other rejections can come after the request was
                // delivered (the silo died while running it): never proof that nothing happened.
                // Nor is any other failure of the call (an exception the cluster could not even
                // send back, say): the caller gets a typed error, never a raw one.
                (lastReason, lastError) = (null, e);
            }
        }

        var outcomeUnknown = isWrite && attempts > 0;
        var what = lastReason ?? lastError?.Message ?? "no answer";
        var unknownNote = outcomeUnknown ? "; it may or may not have been applied" : string.Empty;
        if (lastError is not null and not TimeoutException)
        {
            throw new ClusterUnavailableException($"The cluster could not be reached ({lastError.GetType().Name}: {what}){unknownNote}.", outcomeUnknown, lastError);
        }

        throw new OperationTimeoutException(
            $"The {(isWrite ? "write" : "read")} did not complete in {_options.Timeout.TotalSeconds:0.#}s ({what}){unknownNote}.",
            outcomeUnknown,
            lastError);
    }

    /// <summary>Exponential back-off with jitter (25 ms doubling to at most 1 s), never past the deadline.</summary>
    private static TimeSpan Backoff(int attempt, TimeSpan remaining)
    {
        var ceilingMs = Math.Min(1000, 25 << Math.Min(attempt - 1, 6));
        var pause = TimeSpan.FromMilliseconds((ceilingMs / 2) + Random.Shared.Next((ceilingMs / 2) + 1));
        return pause < remaining ? pause : remaining;
    }

    private static void ValidateKey(string key)
    {
        if (KeyRules.ValidateKey(key) is { } error)
        {
            throw new InvalidKeyException(error);
        }
    }

    private static IPEndPoint Resolve(string gateway)
    {
        var colon = gateway.LastIndexOf(':');
        var host = gateway[..colon];
        var port = int.Parse(gateway.AsSpan(colon + 1), System.Globalization.CultureInfo.InvariantCulture);
        var address = IPAddress.TryParse(host, out var ip)
            ? ip
            : Dns.GetHostAddresses(host).FirstOrDefault(a => a.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork)
              ?? throw new ClusterUnavailableException($"Cannot resolve gateway host '{host}'.");
        return new IPEndPoint(address, port);
    }
}


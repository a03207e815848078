using System.Net;
using ActorCluster.Grains.Interfaces;
using ActorCluster.Grains.Interfaces.Kv;
using ActorCluster.Grains.Interfaces.Ring;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Orleans.Configuration;

namespace ActorCluster.Client;

/// <summary>A value and its version (the log index of the write that set it).</summary>
public readonly record struct KvEntry(byte[] Value, ulong Version);

/// <summary>The outcome of a compare-and-swap: on failure, the key's current version (0 if absent).</summary>
public readonly record struct CasResult(bool Succeeded, ulong Version);

/// <summary>
/// The ActorCluster client: linearizable put, get, delete and compare-and-swap. Routes each key
/// straight to its shard's grain with the cluster's ring. Writes carry this client's id and a
/// sequence number, so a retried write applies at most once. Thread-safe; share one instance.
/// </summary>
public sealed class ActorClusterClient : IAsyncDisposable
{
    private readonly IClusterClient _cluster;
    private readonly IHost? _host;
    private readonly ActorClusterClientOptions _options;
    private readonly KeyRing _ring;
    private readonly SortedSet<ulong> _inFlight = [];
    private readonly Lock _sequenceLock = new();
    private ulong _nextSequence;

    private ActorClusterClient(IClusterClient cluster, IHost? host, ActorClusterClientOptions options, RingDescriptor ring)
    {
        _cluster = cluster;
        _host = host;
        _options = options;
        Ring = ring;
        _ring = KeyRing.Uniform(ring.Shards, ring.Epoch);
        ClientId = (ulong)Random.Shared.NextInt64(1, long.MaxValue);
    }

    /// <summary>This client's session id in the shards' deduplication tables.</summary>
    public ulong ClientId { get; }

    /// <summary>The ring the cluster routes by.</summary>
    public RingDescriptor Ring { get; }

    /// <summary>The underlying Orleans client, for status queries.</summary>
    public IClusterClient Cluster => _cluster;

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
            if (options.PostgresConnectionString is { } postgres)
            {
                client.UseAdoNetClustering(o =>
                {
                    o.Invariant = "Npgsql";
                    o.ConnectionString = postgres;
                });
            }
            else
            {
                IEnumerable<string> gateways = options.Gateways.Count > 0 ? options.Gateways : ActorClusterClientOptions.LocalGateways;
                client.UseStaticClustering([.. gateways.Select(Resolve)]);
            }

            client.AddActivityPropagation();
        });
        var host = builder.Build();
        try
        {
            await host.StartAsync(cancellationToken).WaitAsync(options.Timeout, cancellationToken);
            var cluster = host.Services.GetRequiredService<IClusterClient>();
            var ring = await cluster.GetGrain<IRingGrain>(IRingGrain.DefaultKey).GetRing().WaitAsync(options.Timeout, cancellationToken);
            return new ActorClusterClient(cluster, host, options, ring);
        }
        catch (Exception e) when (e is OrleansException or TimeoutException or System.Net.Sockets.SocketException or InvalidOperationException)
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
        return new ActorClusterClient(cluster, null, options, ring);
    }

    /// <summary>The shard that holds <paramref name="key"/>.</summary>
    public int ShardOf(string key) => _ring.ShardOf(key);

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
        var shard = _cluster.GetGrain<IShardGrain>(_ring.ShardOf(key));
        var response = await WithRetriesAsync(() => shard.Read(key, consistency), isWrite: false, cancellationToken);
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

        ulong sequence, completedBelow;
        lock (_sequenceLock)
        {
            sequence = ++_nextSequence;
            _inFlight.Add(sequence);
            completedBelow = _inFlight.Min;
        }

        try
        {
            var request = new WriteRequest(kind, key, value, expectedVersion, ClientId, sequence, completedBelow);
            var shard = _cluster.GetGrain<IShardGrain>(_ring.ShardOf(key));
            var response = await WithRetriesAsync(() => shard.Write(request), isWrite: true, cancellationToken);
            if (response.Status == KvStatus.InvalidRequest)
            {
                throw new InvalidKeyException(response.Error ?? "invalid request");
            }

            return response;
        }
        finally
        {
            lock (_sequenceLock)
            {
                _inFlight.Remove(sequence);
            }
        }
    }

    private async Task<KvResponse> WithRetriesAsync(Func<Task<KvResponse>> call, bool isWrite, CancellationToken cancellationToken)
    {
        var deadline = DateTime.UtcNow + _options.Timeout;
        Exception? lastError = null;
        string? lastReason = null;
        var mayHaveArrived = false;
        for (var attempt = 0; attempt <= _options.Retries; attempt++)
        {
            var remaining = deadline - DateTime.UtcNow;
            if (remaining <= TimeSpan.Zero)
            {
                break;
            }

            try
            {
                var response = await call().WaitAsync(remaining, cancellationToken);
                if (response.Status is not KvStatus.Unavailable and not KvStatus.SessionExpired)
                {
                    return response;
                }

                lastReason = response.Error;
                if (response.Status == KvStatus.SessionExpired)
                {
                    break;
                }
            }
            catch (TimeoutException e)
            {
                lastError = e;
            }
            catch (OrleansMessageRejectionException e)
            {
                // Refused before it reached a grain (no connection to the gateway, say).
                lastError = e;
                continue;
            }
            catch (Exception e) when (e is OrleansException or SiloUnavailableException or System.Net.Sockets.SocketException)
            {
                lastError = e;
            }

            // Anything but a refusal may have reached the shard.
            mayHaveArrived = true;
        }

        if (!mayHaveArrived && lastError is not null && lastReason is null)
        {
            throw new ClusterUnavailableException($"The cluster did not accept the request: {lastError.Message}", lastError);
        }

        var what = lastReason ?? lastError?.Message ?? "no answer";
        throw new OperationTimeoutException(
            isWrite ? $"The write did not complete in {_options.Timeout.TotalSeconds:0.#}s ({what}); it may or may not have been applied." : $"The read did not complete in {_options.Timeout.TotalSeconds:0.#}s ({what}).",
            outcomeUnknown: isWrite,
            lastError);
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

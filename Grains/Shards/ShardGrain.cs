using System.Diagnostics;
using ActorCluster.Grains.Hosting;
using ActorCluster.Grains.Interfaces;
using ActorCluster.Grains.Interfaces.Kv;
using ActorCluster.Grains.Replicas;
using Microsoft.Extensions.Options;
using Orleans.Concurrency;

namespace ActorCluster.Grains.Shards;

/// <summary>
/// The client's entry to a shard. A stateless worker, so every silo serves the shard locally and
/// the client's gateway silo needs no extra hop; reentrant, so one activation carries many
/// concurrent operations. It routes to the cached leader, follows NotLeader redirects, and on
/// timeouts or lost leaders tries the other replicas until the operation's deadline.
/// </summary>
[StatelessWorker]
[Reentrant]
public sealed class ShardGrain(LeaderCache leaders, RingGate ringGate, IOptions<ShardOptions> shardOptions) : Grain, IShardGrain
{
    private readonly ShardOptions _options = shardOptions.Value;
    private int _replicationFactor;
    private string? _unknownShard;

    private int Shard => (int)this.GetPrimaryKeyLong();

    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        var ring = await ringGate.Verified.WaitAsync(cancellationToken);
        _replicationFactor = ring.ReplicationFactor;
        var shard = this.GetPrimaryKeyLong();
        _unknownShard = shard < 0 || shard >= ring.Shards ? $"shard {shard} does not exist: the ring has shards 0..{ring.Shards - 1}" : null;
    }

    public Task<KvResponse> Write(WriteRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        return _unknownShard is { } error
            ? Task.FromResult(new KvResponse(KvStatus.InvalidRequest, 0, null, error))
            : RouteAsync(replica => replica.Propose(request), preferLeader: true, isWrite: true);
    }

    public Task<KvResponse> Read(string key, ReadConsistency consistency) =>
        _unknownShard is { } error
            ? Task.FromResult(new KvResponse(KvStatus.InvalidRequest, 0, null, error))
            : RouteAsync(replica => replica.Read(key, consistency), preferLeader: consistency == ReadConsistency.Linearizable, isWrite: false);

    public async Task<ShardStatus> GetStatus()
    {
        if (_unknownShard is not null)
        {
            return new ShardStatus(Shard, 0, []);
        }

        var replies = await Task.WhenAll(Enumerable.Range(1, _replicationFactor).Select(async slot =>
        {
            try
            {
                return await Replica(slot).GetStatus().WaitAsync(_options.StatusTimeout);
            }
            catch (Exception e) when (e is TimeoutException or OrleansException)
            {
                return null;
            }
        }));
        var answered = replies.OfType<ReplicaStatus>().ToList();
        var leader = answered.Where(r => r.Role == "Leader").OrderByDescending(r => r.Term).FirstOrDefault();
        return new ShardStatus(Shard, leader?.Slot ?? 0, answered);
    }

    private async Task<KvResponse> RouteAsync(Func<IRaftReplicaGrain, Task<ReplicaReply>> call, bool preferLeader, bool isWrite)
    {
        var shard = Shard;
        var deadline = Stopwatch.StartNew();
        var slot = preferLeader ? leaders.LeaderOf(shard) : Random.Shared.Next(1, _replicationFactor + 1);
        var attempt = 0;
        var mayHaveProposed = false;
        string lastProblem = "no replica answered";
        while (deadline.Elapsed < _options.OperationTimeout)
        {
            attempt++;
            ReplicaReply reply;
            try
            {
                reply = await call(Replica(slot)).WaitAsync(_options.AttemptTimeout);
            }
            catch (Exception e) when (e is TimeoutException or OrleansException)
            {
                // The replica's silo may be gone; the others can elect a leader meanwhile.
                lastProblem = $"replica {slot}: {e.GetType().Name}";
                mayHaveProposed = true;
                slot = Next(slot);
                continue;
            }

            switch (reply.Outcome)
            {
                case ReplicaOutcome.Done when isWrite && mayHaveProposed && reply.Response!.Status == KvStatus.SessionExpired:
                    // Gone now, but an earlier attempt may have applied before the session went:
                    // the outcome is unknown, not "not applied".
                    return KvResponse.Unavailable($"shard {shard}: the session expired after an earlier attempt that may have been applied ({reply.Response.Error})");
                case ReplicaOutcome.Done:
                    if (preferLeader)
                    {
                        leaders.Remember(shard, slot);
                    }

                    return reply.Response!;
                case ReplicaOutcome.NotLeader when reply.LeaderSlot >= 1 && reply.LeaderSlot <= _replicationFactor:
                    lastProblem = $"replica {slot} is not the leader";
                    slot = reply.LeaderSlot;
                    continue;
                case ReplicaOutcome.NotLeader:
                    lastProblem = "no leader elected";
                    slot = Next(slot);
                    break;
                default:
                    lastProblem = reply.Reason ?? "retry";
                    mayHaveProposed = true;
                    break;
            }

            // An election is under way or the leader pushed back: wait a little, more each time.
            await Task.Delay(TimeSpan.FromMilliseconds(Math.Min(5 * attempt, 100)));
        }

        return KvResponse.Unavailable(isWrite
            ? $"shard {shard}: {lastProblem} within {_options.OperationTimeout.TotalSeconds:0.#}s; the write may or may not have been applied"
            : $"shard {shard}: {lastProblem} within {_options.OperationTimeout.TotalSeconds:0.#}s");
    }

    private int Next(int slot) => (slot % _replicationFactor) + 1;

    private IRaftReplicaGrain Replica(int slot) => GrainFactory.GetGrain<IRaftReplicaGrain>(ReplicaId.Format(Shard, slot));
}

/// <summary>Deadlines of the shard grain (configuration section <c>ActorCluster:Shard</c>).</summary>
public sealed class ShardOptions
{
    public const string Section = "ActorCluster:Shard";

    /// <summary>How long one operation may take, across redirects and retries.</summary>
    public int OperationTimeoutMilliseconds { get; set; } = 8_000;

    /// <summary>How long to wait for one replica before trying another.</summary>
    public int AttemptTimeoutMilliseconds { get; set; } = 2_000;

    public TimeSpan OperationTimeout => TimeSpan.FromMilliseconds(OperationTimeoutMilliseconds);

    public TimeSpan AttemptTimeout => TimeSpan.FromMilliseconds(AttemptTimeoutMilliseconds);

    /// <summary>How long a status query waits for each replica.</summary>
    public int StatusTimeoutMilliseconds { get; set; } = 2_000;

    public TimeSpan StatusTimeout => TimeSpan.FromMilliseconds(StatusTimeoutMilliseconds);

    /// <summary>Throws <see cref="ArgumentException"/> naming the first invalid setting.</summary>
    public void Validate()
    {
        if (OperationTimeoutMilliseconds is < 100 or > 600_000)
        {
            throw new ArgumentException($"{Section}:OperationTimeoutMilliseconds must be between 100 and 600000 (was {OperationTimeoutMilliseconds}).");
        }

        if (AttemptTimeoutMilliseconds < 50 || AttemptTimeoutMilliseconds > OperationTimeoutMilliseconds)
        {
            throw new ArgumentException($"{Section}:AttemptTimeoutMilliseconds must be between 50 and OperationTimeoutMilliseconds (was {AttemptTimeoutMilliseconds}).");
        }
    }
}

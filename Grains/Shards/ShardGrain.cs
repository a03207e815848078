using System.Diagnostics;
using ActorCluster.Grains.Hosting;
using ActorCluster.Grains.Interfaces;
using ActorCluster.Grains.Interfaces.Kv;
using ActorCluster.Grains.Placement;
using ActorCluster.Grains.Replicas;
using Microsoft.Extensions.Options;
using Orleans.Concurrency;
using Orleans.GrainDirectory;

namespace ActorCluster.Grains.Shards;

/// <summary>
/// The client's entry to a shard. A stateless worker, so every silo serves the shard locally and
/// the client's gateway silo needs no extra hop; reentrant, so one activation carries many
/// concurrent operations. It knows the shard's replicas from what the ring recorded (the newest
/// configuration a leader reported, else the founders) and from what replicas report (their
/// configuration travels with redirects), routes to the known
/// leader, follows NotLeader redirects, and when a replica cannot be reached (its store's silo is
/// down: the call fails at once) tries the others until the operation's deadline.
/// </summary>
[StatelessWorker]
[Reentrant]
[GrainDirectory(UnregisteredGrainDirectory.Name)]
public sealed class ShardGrain(ShardDirectory directory, RingGate ringGate, IOptions<ShardOptions> shardOptions) : Grain, IShardGrain
{
    private readonly ShardOptions _options = shardOptions.Value;
    private string? _unknownShard;

    private int Shard => (int)this.GetPrimaryKeyLong();

    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        var ring = await ringGate.Verified.WaitAsync(cancellationToken);
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

    public async Task<KvResponse[]> Execute(KvOperation[] operations)
    {
        ArgumentNullException.ThrowIfNull(operations);
        var answers = new KvResponse?[operations.Length];
        if (_unknownShard is not null || operations.Length > MaxBatchOperations)
        {
            var error = _unknownShard ?? $"a batch holds at most {MaxBatchOperations} operations (this one {operations.Length})";
            Array.Fill(answers, new KvResponse(KvStatus.InvalidRequest, 0, null, error));
            return answers!;
        }

        for (var i = 0; i < operations.Length; i++)
        {
            if (operations[i] is not { Write: not null } and not { ReadKey: not null })
            {
                answers[i] = new KvResponse(KvStatus.InvalidRequest, 0, null, "an operation needs a write or a key to read");
            }
        }

        // The batch goes whole to the leader this silo knows, and to the leader it names if it
        // redirects; what is left (no leader known, retries, failures) is routed one by one, each
        // carrying whether an earlier attempt may have proposed it.
        var mayHaveProposed = new bool[operations.Length];
        var shard = Shard;
        using var span = Tracing.Source.StartActivity("shard.batch");
        span?.SetTag("actorcluster.shard", shard).SetTag("actorcluster.operations", operations.Length);
        var started = Stopwatch.StartNew();
        var target = directory.Of(shard) is { Leader: not 0 } known && known.StoreOf(known.Leader) != 0 ? known.Leader : 0UL;
        for (var round = 0; round < 3 && target != 0; round++)
        {
            var open = Enumerable.Range(0, operations.Length).Where(i => answers[i] is null).ToArray();
            if (open.Length == 0 || directory.Of(shard) is not { } view || view.StoreOf(target) is var store && store == 0)
            {
                break;
            }

            var attempt = Min(_options.AttemptTimeout, _options.OperationTimeout - started.Elapsed);
            if (attempt <= TimeSpan.Zero)
            {
                break;
            }

            ReplicaReply[]? replies;
            try
            {
                replies = await Replica(target, store).Execute([.. open.Select(i => operations[i])]).WaitAsync(attempt);
            }
            catch (StoreUnavailableException)
            {
                // Its store's silo is down: nothing was sent.
                break;
            }
            catch (Exception)
            {
                // A timeout, a lost silo, or the replica failing in the call or in its activation
                // (its store refusing writes, say): nothing is known of what it did.
                replies = null;
            }

            if (replies is null || replies.Length != open.Length)
            {
                // No answer to this batch (a timeout, a lost silo, a reply of the wrong shape):
                // nothing is known of what it did.
                foreach (var i in open)
                {
                    mayHaveProposed[i] |= operations[i].Write is not null;
                }

                break;
            }

            foreach (var reply in replies)
            {
                if (reply.Members is { } members)
                {
                    directory.Learn(shard, members);
                }
            }

            var next = BatchReplies.Absorb(shard, operations, open, replies, target, answers, mayHaveProposed);

            // Only the leader finishes a write or a linearizable read (bad input aside).
            if (open.Any(i => answers[i] is { Status: not KvStatus.InvalidRequest } && (operations[i].Write is not null || operations[i].Consistency == ReadConsistency.Linearizable)))
            {
                directory.RememberLeader(shard, target);
            }

            target = next;
        }

        // What is left shares what is left of the operation's time: a batch takes no longer than
        // one operation may.
        var remaining = _options.OperationTimeout - started.Elapsed;
        await Task.WhenAll(Enumerable.Range(0, operations.Length).Where(i => answers[i] is null).Select(async i =>
        {
            var operation = operations[i];
            try
            {
                answers[i] = operation.Write is { } write
                    ? await RouteAsync(replica => replica.Propose(write), preferLeader: true, isWrite: true, mayHaveProposed[i], remaining)
                    : await RouteAsync(replica => replica.Read(operation.ReadKey!, operation.Consistency), preferLeader: operation.Consistency == ReadConsistency.Linearizable, isWrite: false, budget: remaining);
            }
            catch (Exception e)
            {
                // One operation's failure is its own: the others of the batch are answered. A write
                // may have been proposed before it failed.
                answers[i] = KvResponse.Unavailable($"shard {shard}: {e.GetType().Name}: {e.Message}" + (operation.Write is not null ? "; the write may or may not have been applied" : string.Empty));
            }
        }));

        // The answer must fit in one message: values past the budget (the first always fits) are
        // answered "unavailable", which the client retries, alone or in a later batch.
        long bytes = 0;
        for (var i = 0; i < answers.Length; i++)
        {
            if (answers[i]!.Value is { } value && (bytes += value.Length) > MaxBatchResponseBytes && bytes > value.Length)
            {
                answers[i] = KvResponse.Unavailable($"shard {shard}: the batch's answer is full; read again");
            }
        }

        return answers!;
    }

    private static TimeSpan Min(TimeSpan a, TimeSpan b) => a < b ? a : b;

    public async Task<ShardStatus> GetStatus()
    {
        if (_unknownShard is not null || await ViewAsync() is not { } view)
        {
            return new ShardStatus(Shard, 0, []);
        }

        var replies = await Task.WhenAll(view.Members.Ids.Select((id, i) => StatusOrNullAsync(id, view.Members.Stores[i])));
        var answered = replies.OfType<ReplicaStatus>().ToList();
        if (answered.All(r => r.Role is "Removed" or "Missing" or "Lost") && await RefreshFromRingAsync() is { } recorded && recorded != view)
        {
            // No member this silo knew of can speak for the group: ask the ones the ring recorded.
            replies = await Task.WhenAll(recorded.Members.Ids.Select((id, i) => StatusOrNullAsync(id, recorded.Members.Stores[i])));
            answered = replies.OfType<ReplicaStatus>().ToList();
        }

        var leader = answered.Where(r => r.Role == "Leader").OrderByDescending(r => r.Term).FirstOrDefault();
        var known = view.Members.Ids.Order().ToList();
        if (leader is null || answered.Any(r => r.Members is { } members && r.Role != "Removed" && !members.Order().SequenceEqual(known)))
        {
            // Some replica knows other members than this silo does: learn them from answers (which
            // carry the answering replica's group), then ask again.
            await RouteAsync(replica => replica.Read("~members", ReadConsistency.Stale), preferLeader: false, isWrite: false);
            if (directory.Of(Shard) is { } fresh)
            {
                replies = await Task.WhenAll(fresh.Members.Ids.Select((id, i) => StatusOrNullAsync(id, fresh.Members.Stores[i])));
                answered = replies.OfType<ReplicaStatus>().ToList();
                leader = answered.Where(r => r.Role == "Leader").OrderByDescending(r => r.Term).FirstOrDefault();
            }
        }

        return new ShardStatus(Shard, leader?.Replica ?? 0, answered);
    }

    private async Task<ReplicaStatus?> StatusOrNullAsync(ulong id, ulong store)
    {
        try
        {
            return await Replica(id, store).GetStatus().WaitAsync(_options.StatusTimeout);
        }
        catch (Exception)
        {
            // Silent, gone, or failing to activate (its store refusing writes, say): no status.
            return null;
        }
    }

    /// <summary>What is known of this shard's replicas: learned from replies, or the founders the ring recorded.</summary>
    private async Task<ShardView?> ViewAsync()
    {
        if (directory.Of(Shard) is { Members.Ids.Length: > 0 } known)
        {
            return known;
        }

        return await RefreshFromRingAsync();
    }

    /// <summary>Learns the group the ring recorded (the newest a leader reported, else the founders).</summary>
    private async Task<ShardView?> RefreshFromRingAsync()
    {
        var members = await GrainFactory.GetGrain<IRingGrain>(IRingGrain.DefaultKey).GetMembers(Shard);
        return members is null ? directory.Of(Shard) : directory.Learn(Shard, members);
    }

    private async Task<KvResponse> RouteAsync(Func<IRaftReplicaGrain, Task<ReplicaReply>> call, bool preferLeader, bool isWrite, bool mayHaveProposed = false, TimeSpan? budget = null)
    {
        var timeout = budget ?? _options.OperationTimeout;
        var shard = Shard;
        using var span = Tracing.Source.StartActivity("shard.route");
        span?.SetTag("actorcluster.shard", shard).SetTag("actorcluster.write", isWrite);
        var deadline = Stopwatch.StartNew();
        var attempt = 0;
        var turn = preferLeader ? 0 : Random.Shared.Next(16);
        ulong redirect = 0;
        var unreachable = 0;
        string lastProblem = "no replica answered";
        while (deadline.Elapsed < timeout)
        {
            attempt++;
            ShardView? view;
            try
            {
                view = await ViewAsync();
            }
            catch (Exception e) when (e is TimeoutException or OrleansException)
            {
                // This silo knows no group for the shard yet and the ring is out of reach (its
                // silo may have just died): nothing was sent, so try again within the deadline.
                lastProblem = $"the ring, which knows the shard's replicas, is out of reach ({e.GetType().Name})";
                await Task.Delay(TimeSpan.FromMilliseconds(Math.Min(20 * attempt, 500)));
                continue;
            }

            if (view is null || view.Candidates.Count == 0)
            {
                lastProblem = "the cluster has not placed this shard's replicas yet (too few stores have joined)";
                await Task.Delay(TimeSpan.FromMilliseconds(Math.Min(20 * attempt, 500)));
                continue;
            }

            var candidates = view.Candidates;
            if (unreachable >= candidates.Count)
            {
                // None of the members this silo knows answered: they may all have been replaced
                // while it was not looking. The ring has the newest group a leader reported.
                unreachable = 0;
                try
                {
                    if (await RefreshFromRingAsync() is { Candidates.Count: > 0 } recorded)
                    {
                        candidates = recorded.Candidates;
                        view = recorded;
                    }
                }
                catch (Exception e) when (e is TimeoutException or OrleansException)
                {
                    // The ring is out of reach too: keep trying the members known.
                }
            }

            var id = redirect != 0 && view.StoreOf(redirect) != 0 ? redirect : candidates[turn++ % candidates.Count];
            redirect = 0;
            ReplicaReply reply;
            try
            {
                reply = await call(Replica(id, view.StoreOf(id))).WaitAsync(Min(_options.AttemptTimeout, timeout - deadline.Elapsed + TimeSpan.FromMilliseconds(1)));
            }
            catch (StoreUnavailableException e)
            {
                // Its store's silo is down: nothing was sent. Another replica may lead by now.
                lastProblem = $"replica {id}: {e.Message}";
                unreachable++;
                await Task.Delay(TimeSpan.FromMilliseconds(Math.Min(5 * attempt, 50)));
                continue;
            }
            catch (Exception e)
            {
                // A timeout, a lost silo, or the replica failing in the call or in its activation
                // (its store refusing writes, say; a local call throws the activation's own
                // exception): another replica may answer, and this one may have proposed.
                lastProblem = $"replica {id}: {e.GetType().Name}";
                mayHaveProposed = true;
                unreachable++;
                // A failure can be immediate (an activation that fails at once): no hot loop.
                await Task.Delay(TimeSpan.FromMilliseconds(Math.Min(5 * attempt, 50)));
                continue;
            }

            // A stopped replica (removed, lost, or never created here) answers without a group: it
            // cannot speak for the shard any more than a silent one.
            unreachable = reply.Members is null && reply.Outcome == ReplicaOutcome.Retry ? unreachable + 1 : 0;

            if (reply.Members is { } members)
            {
                directory.Learn(shard, members);
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
                        directory.RememberLeader(shard, id);
                    }

                    return reply.Response!;
                case ReplicaOutcome.NotLeader when reply.Leader != 0 && reply.Leader != id:
                    lastProblem = $"replica {id} is not the leader";
                    redirect = reply.Leader;
                    continue;
                case ReplicaOutcome.NotLeader:
                    lastProblem = "no leader elected";
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
            ? $"shard {shard}: {lastProblem} within {timeout.TotalSeconds:0.#}s; the write may or may not have been applied"
            : $"shard {shard}: {lastProblem} within {timeout.TotalSeconds:0.#}s");
    }

    /// <summary>The most operations one batch may carry.</summary>
    public const int MaxBatchOperations = 4096;

    /// <summary>
    /// The most value bytes one batch's answer carries (beyond its first value): reads past it are
    /// answered "unavailable" and the client reads them again, so an answer never outgrows an
    /// Orleans message (whose default limit is 100 MB; a deployment may set less).
    /// </summary>
    public const int MaxBatchResponseBytes = 2 * 1024 * 1024;

    private IRaftReplicaGrain Replica(ulong id, ulong store) => GrainFactory.GetGrain<IRaftReplicaGrain>(ReplicaId.Format(Shard, id, store));
}

/// <summary>How a router takes one replica's answers to the open operations of a batch.</summary>
internal static class BatchReplies
{
    /// <summary>
    /// Records the finished operations in <paramref name="answers"/> and flags, in
    /// <paramref name="mayHaveProposed"/>, writes the replica may have proposed without finishing.
    /// A write already flagged that now meets no session is an unknown outcome, never "not
    /// applied": an earlier attempt may have applied before the session went. Returns the leader a
    /// redirect named (0: none other than <paramref name="target"/>).
    /// </summary>
    public static ulong Absorb(int shard, KvOperation[] operations, int[] open, ReplicaReply[] replies, ulong target, KvResponse?[] answers, bool[] mayHaveProposed)
    {
        var next = 0UL;
        for (var k = 0; k < open.Length; k++)
        {
            var (i, reply) = (open[k], replies[k]);
            var isWrite = operations[i].Write is not null;
            switch (reply.Outcome)
            {
                case ReplicaOutcome.Done when isWrite && mayHaveProposed[i] && reply.Response?.Status == KvStatus.SessionExpired:
                    answers[i] = KvResponse.Unavailable($"shard {shard}: the session expired after an earlier attempt that may have been applied ({reply.Response.Error})");
                    break;
                case ReplicaOutcome.Done:
                    answers[i] = reply.Response ?? KvResponse.Unavailable($"shard {shard}: replica {target} answered without a response");
                    break;
                case ReplicaOutcome.NotLeader when reply.Leader != 0 && reply.Leader != target:
                    next = reply.Leader;
                    break;
                case ReplicaOutcome.Retry:
                    mayHaveProposed[i] |= isWrite;
                    break;
            }
        }

        return next;
    }
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

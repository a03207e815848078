using System.Collections.Concurrent;
using System.Diagnostics;
using ActorCluster.Grains.Interfaces;
using ActorCluster.Grains.Interfaces.Kv;

namespace ActorCluster.Client;

/// <summary>
/// Carries this client process's concurrent operations to each shard in few grain calls. Each
/// shard has a lane with at most <c>callsPerShard</c> calls in flight: an operation that finds a
/// free call goes at once, alone, as it would without batching, so a lone request waits for
/// nothing; one that finds every call busy waits in the lane, and when a call comes back, everything
/// waiting leaves together as one <see cref="IShardGrain.Execute"/> (up to the batch limits). Under
/// load the batches grow by themselves, as in TiKV's client (BatchCommands), and the shard's leader
/// proposes a batch's writes in one log append.
/// </summary>
/// <remarks>
/// This is only transport: every operation keeps its own retries, deadline, session and sequence in
/// <see cref="ActorClusterClient"/>, and a failed call fails each of its operations as if it had
/// been sent alone (so each counts the attempt as possibly applied). A batch is answered when its
/// slowest operation is: operations of one shard mostly share fate (one leader), and that is the
/// price of fewer calls.
/// </remarks>
internal sealed class OperationBatcher(Func<int, IShardGrain> shards, int callsPerShard, int maxBatchOperations, int maxBatchBytes)
{
    private readonly ConcurrentDictionary<int, Lane> _lanes = new();

    /// <summary>Sends a write; one still waiting in its lane at <paramref name="deadline"/> (UTC) or after cancellation is dropped, unsent.</summary>
    public Task<KvResponse> Write(int shard, WriteRequest request, DateTime deadline, CancellationToken cancellationToken = default) =>
        Submit(shard, KvOperation.Of(request), deadline, cancellationToken);

    /// <summary>Sends a read; one still waiting in its lane at <paramref name="deadline"/> (UTC) or after cancellation is dropped, unsent.</summary>
    public Task<KvResponse> Read(int shard, string key, ReadConsistency consistency, DateTime deadline, CancellationToken cancellationToken = default) =>
        Submit(shard, KvOperation.OfRead(key, consistency), deadline, cancellationToken);

    /// <summary>Calls made so far, and how many operations they carried (for tests and benchmarks).</summary>
    public (long Calls, long Operations) Sent => (Interlocked.Read(ref _calls), Interlocked.Read(ref _operations));

    private long _calls;
    private long _operations;

    /// <summary>Operations waiting in <paramref name="shard"/>'s lane now (for tests).</summary>
    internal int WaitingIn(int shard)
    {
        if (!_lanes.TryGetValue(shard, out var lane))
        {
            return 0;
        }

        lock (lane)
        {
            return lane.Queue.Count;
        }
    }

    private Task<KvResponse> Submit(int shard, KvOperation operation, DateTime deadline, CancellationToken cancellationToken)
    {
        var lane = _lanes.GetOrAdd(shard, static _ => new Lane());
        Waiting waiting;
        lock (lane)
        {
            if (lane.InFlight < callsPerShard)
            {
                lane.InFlight++;
                return SendAloneAsync(shard, lane, operation);
            }

            waiting = new Waiting(operation, deadline, cancellationToken);
            waiting.Node = lane.Queue.AddLast(waiting);
        }

        // When its caller gives up, it leaves the lane at once, payload and all, though every call
        // the lane has out may hang for long yet.
        waiting.OnAbandon(() => Abandon(lane, waiting));
        return waiting.Answer.Task;
    }

    private static void Abandon(Lane lane, Waiting waiting)
    {
        lock (lane)
        {
            if (waiting.Node is not { } node)
            {
                // Already on its way.
                return;
            }

            lane.Queue.Remove(node);
            waiting.Node = null;
        }

        waiting.Drop();
    }

    private async Task<KvResponse> SendAloneAsync(int shard, Lane lane, KvOperation operation)
    {
        try
        {
            return await Call(shards(shard), operation);
        }
        finally
        {
            Release(shard, lane);
        }
    }

    private Task<KvResponse> Call(IShardGrain grain, KvOperation operation)
    {
        Interlocked.Increment(ref _calls);
        Interlocked.Increment(ref _operations);
        return operation.Write is { } write ? grain.Write(write) : grain.Read(operation.ReadKey!, operation.Consistency);
    }

    /// <summary>A call of <paramref name="lane"/> came back: its slot carries what waits, or frees up.</summary>
    private void Release(int shard, Lane lane)
    {
        List<Waiting> batch;
        List<Waiting>? dropped = null;
        lock (lane)
        {
            if (lane.Queue.Count == 0)
            {
                lane.InFlight--;
                return;
            }

            // Operations whose callers gave up while they waited are dropped, never sent: sending
            // them now could only make an abandoned write apply long after its caller was told.
            // (Each leaves by itself when its caller gives up; this catches one that just did.)
            var now = DateTime.UtcNow;
            batch = [];
            long bytes = 0;
            while (batch.Count < maxBatchOperations && lane.Queue.First is { } node && (batch.Count == 0 || bytes + node.Value.Operation.Bytes <= maxBatchBytes))
            {
                lane.Queue.RemoveFirst();
                var next = node.Value;
                next.Node = null;
                if (next.Abandoned(now))
                {
                    (dropped ??= []).Add(next);
                    continue;
                }

                bytes += next.Operation.Bytes;
                batch.Add(next);
            }

            if (batch.Count == 0)
            {
                lane.InFlight--;
            }
        }

        // Outside the lane's lock: a caller's give-up may be running right now, waiting for it.
        dropped?.ForEach(w => w.Drop());
        batch.ForEach(w => w.StopWatching());
        if (batch.Count > 0)
        {
            _ = SendBatchAsync(shard, lane, batch);
        }
    }

    private async Task SendBatchAsync(int shard, Lane lane, List<Waiting> batch)
    {
        // The call joins the trace of the batch's first operation; the others' are linked.
        Activity.Current = batch[0].Span;
        using var span = batch.Count > 1 && batch[0].Span is { } first
            ? ActorClusterClient.Source.StartActivity("actorcluster batch", ActivityKind.Client, first.Context, links: batch.Skip(1).Take(32).Where(w => w.Span is not null).Select(w => new ActivityLink(w.Span!.Context)))
            : null;
        span?.SetTag("actorcluster.shard", shard).SetTag("actorcluster.operations", batch.Count);
        try
        {
            var grain = shards(shard);
            if (batch.Count == 1)
            {
                batch[0].Answer.TrySetResult(await Call(grain, batch[0].Operation));
                return;
            }

            Interlocked.Increment(ref _calls);
            Interlocked.Add(ref _operations, batch.Count);
            var answers = await grain.Execute([.. batch.Select(w => w.Operation)]);
            if (answers is null || answers.Length != batch.Count)
            {
                throw new InvalidOperationException($"Shard {shard} answered a batch of {batch.Count} with {answers?.Length ?? 0} answers.");
            }

            for (var i = 0; i < batch.Count; i++)
            {
                batch[i].Answer.TrySetResult(answers[i]);
            }
        }
        catch (Exception e)
        {
            foreach (var waiting in batch)
            {
                waiting.Answer.TrySetException(e);
            }
        }
        finally
        {
            Release(shard, lane);
        }
    }

    private sealed class Lane
    {
        public int InFlight;

        /// <summary>What waits, oldest first; guarded by the lane's lock.</summary>
        public LinkedList<Waiting> Queue { get; } = new();
    }

    private sealed class Waiting(KvOperation operation, DateTime deadline, CancellationToken cancellationToken)
    {
        private CancellationTokenSource? _giveUp;
        private CancellationTokenRegistration _registration;
        private bool _watching = true;

        public KvOperation Operation { get; } = operation;

        public TaskCompletionSource<KvResponse> Answer { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        /// <summary>The span of the operation's caller, when traced.</summary>
        public Activity? Span { get; } = Activity.Current;

        /// <summary>Its place in the lane while it waits; null once it left (sent or dropped). Guarded by the lane's lock.</summary>
        public LinkedListNode<Waiting>? Node { get; set; }

        public bool Abandoned(DateTime now) => now >= deadline || cancellationToken.IsCancellationRequested;

        /// <summary>Runs <paramref name="abandon"/> when the caller's deadline passes or its token is cancelled.</summary>
        public void OnAbandon(Action abandon)
        {
            var giveUp = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            var left = deadline - DateTime.UtcNow;
            giveUp.CancelAfter(left > TimeSpan.Zero ? left : TimeSpan.Zero);
            // Taken before the source is published: once it is, the lane may dispose it at any
            // moment (the operation sent), and a disposed source's Token throws. Registering on the
            // token of a disposed source registers nothing, which is what is wanted then.
            var token = giveUp.Token;
            lock (this)
            {
                if (!_watching)
                {
                    // It left the lane before the watch began.
                    giveUp.Dispose();
                    return;
                }

                _giveUp = giveUp;
            }

            var registration = token.Register(static state => ((Action)state!)(), abandon);
            lock (this)
            {
                if (_watching)
                {
                    _registration = registration;
                    return;
                }
            }

            registration.Unregister();
        }

        /// <summary>It left the lane (on its way, or dropped): its deadline no longer concerns the lane.</summary>
        public void StopWatching()
        {
            CancellationTokenSource? giveUp;
            CancellationTokenRegistration registration;
            lock (this)
            {
                _watching = false;
                (giveUp, _giveUp) = (_giveUp, null);
                (registration, _registration) = (_registration, default);
            }

            // Unregister, not Dispose: never wait for a give-up that is running (it may be
            // waiting for the lane's lock this thread holds, or be this very call).
            registration.Unregister();
            giveUp?.Dispose();
        }

        /// <summary>Never sent: its caller, who gave up on it, is told nothing was.</summary>
        public void Drop()
        {
            Answer.TrySetException(new TimeoutException("dropped unsent: its caller stopped waiting"));
            StopWatching();
        }
    }
}

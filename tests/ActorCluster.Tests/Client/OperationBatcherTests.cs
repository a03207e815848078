using ActorCluster.Client;
using ActorCluster.Grains.Interfaces;
using ActorCluster.Grains.Interfaces.Kv;
using ActorCluster.Grains.Kv;

namespace ActorCluster.Tests.Client;

/// <summary>
/// Client-side batching against a shard whose calls can be held: a lone operation goes alone and
/// at once, operations that find every call busy leave together, a failed batch fails each of its
/// operations as unknown (and each retries in its session, applying once), and batches respect
/// their limits.
/// </summary>
public sealed class OperationBatcherTests
{
    private static readonly RingDescriptor OneShard = new(1, 3, 1);

    [Fact]
    public async Task A_lone_operation_goes_alone_and_at_once()
    {
        var shard = new HeldShard();
        await using var client = ClientOver(shard);
        await client.PutAsync("a", [1]);
        Assert.Equal(new byte[] { 1 }, (await client.GetAsync("a"))!.Value.Value);
        Assert.Empty(shard.Batches);
        Assert.Equal(3, shard.Calls); // the session's open, the put, the get
    }

    [Fact]
    public async Task Operations_that_find_every_call_busy_leave_together_in_one_batch()
    {
        var shard = new HeldShard();
        await using var client = ClientOver(shard, callsPerShard: 2);
        await client.PutAsync("warm", [0]); // opens the session

        shard.Hold();
        var first = client.PutAsync("k0", [0]);
        var second = client.PutAsync("k1", [1]);
        await shard.WaitForHeldAsync(2);
        // Both calls are out: the next ten wait and must leave as one call.
        var waiting = Enumerable.Range(2, 10).Select(i => client.PutAsync($"k{i}", [(byte)i])).ToList();
        var reads = Enumerable.Range(0, 3).Select(_ => client.GetAsync("warm")).ToList();
        Assert.Equal(2, shard.HeldCount);
        shard.Release();

        await Task.WhenAll([first, second, .. waiting]);
        await Task.WhenAll(reads);
        Assert.Single(shard.Batches);
        Assert.Equal(13, shard.Batches[0]);
        for (var i = 0; i < 12; i++)
        {
            Assert.Equal(new[] { (byte)i }, shard.State.Get($"k{i}").Value);
        }

        // Each write got its own answer: its version is the index it applied at.
        var versions = await Task.WhenAll(waiting);
        Assert.Equal(10, versions.Distinct().Count());
        Assert.All(reads, r => Assert.Equal(new byte[] { 0 }, r.Result!.Value.Value));
    }

    [Fact]
    public async Task A_batch_is_sent_in_the_trace_of_its_first_operation_and_linked_to_the_others()
    {
        var started = new List<System.Diagnostics.Activity>();
        using var listener = new System.Diagnostics.ActivityListener
        {
            ShouldListenTo = source => source.Name == ActorClusterClient.ActivitySourceName,
            Sample = (ref System.Diagnostics.ActivityCreationOptions<System.Diagnostics.ActivityContext> _) => System.Diagnostics.ActivitySamplingResult.AllDataAndRecorded,
            ActivityStarted = activity =>
            {
                lock (started)
                {
                    started.Add(activity);
                }
            },
        };
        System.Diagnostics.ActivitySource.AddActivityListener(listener);
        var shard = new HeldShard();
        await using var client = ClientOver(shard, callsPerShard: 1);
        await client.PutAsync("warm", [0]);

        shard.Hold();
        var first = client.PutAsync("t0", [0]);
        await shard.WaitForHeldAsync(1);
        var second = client.PutAsync("t1", [1]);
        var third = client.PutAsync("t2", [2]);
        shard.Release();
        await Task.WhenAll(first, second, third);

        var puts = started.Where(a => a.OperationName == "actorcluster put").ToList();
        Assert.Equal(4, puts.Count);
        var batch = Assert.Single(shard.BatchSpans);
        Assert.NotNull(batch);
        Assert.Equal("actorcluster batch", batch.OperationName);
        // A span of the client's own source, under the first waiting put, linked to the second:
        // never one of the application's spans made to look like the client's.
        Assert.Equal(ActorClusterClient.ActivitySourceName, batch.Source.Name);
        Assert.Equal(puts[2].SpanId, batch.ParentSpanId);
        Assert.Equal(puts[3].Context, Assert.Single(batch.Links).Context);
    }

    [Fact]
    public async Task A_batch_whose_call_failed_after_applying_is_retried_operation_by_operation_and_applies_each_once()
    {
        var shard = new HeldShard();
        await using var client = ClientOver(shard, callsPerShard: 1);
        await client.PutAsync("warm", [0]);

        shard.Hold();
        var first = client.PutAsync("c0", [0]);
        await shard.WaitForHeldAsync(1);
        var swaps = Enumerable.Range(1, 5).Select(i => client.CompareAndSwapAsync($"c{i}", 0, [(byte)i])).ToList();
        // The batch applies on the shard and its silo dies before answering.
        shard.FailNextBatchAfterApplying = new SiloUnavailableException("the silo died");
        shard.Release();

        await first;
        var results = await Task.WhenAll(swaps);
        // A swap from 0 that applied twice would now see its own write and fail: each succeeded once.
        Assert.All(results, r => Assert.True(r.Succeeded));
        Assert.Equal(1, shard.FailedBatches);
        // The retries went alone, not queued behind the lane's calls again.
        Assert.Single(shard.Batches);
        for (var i = 1; i <= 5; i++)
        {
            Assert.Equal(new[] { (byte)i }, shard.State.Get($"c{i}").Value);
        }
    }

    [Fact]
    public async Task A_batch_that_always_fails_reports_each_write_as_unknown_outcome()
    {
        var shard = new HeldShard();
        await using var client = ClientOver(shard, callsPerShard: 1, retries: 0);
        await client.PutAsync("warm", [0]);

        shard.Hold();
        var first = client.PutAsync("x", [0]);
        await shard.WaitForHeldAsync(1);
        var puts = Enumerable.Range(0, 4).Select(i => client.PutAsync($"y{i}", [1])).ToList();
        shard.FailNextBatchAfterApplying = new SiloUnavailableException("the silo died");
        shard.Release();
        await first;
        foreach (var put in puts)
        {
            var error = await Assert.ThrowsAsync<ClusterUnavailableException>(() => put);
            Assert.True(error.OutcomeUnknown);
        }
    }

    [Fact]
    public async Task An_operation_whose_caller_gave_up_while_it_waited_is_never_sent()
    {
        var shard = new HeldShard();
        await using var client = ActorClusterClient.OverShards(_ => shard, OneShard, new ActorClusterClientOptions { Retries = 0, TimeoutMilliseconds = 300, BatchCallsPerShard = 1 });
        await client.PutAsync("warm", [0]);

        shard.Hold();
        var first = client.PutAsync("first", [1]);
        await shard.WaitForHeldAsync(1);
        var late = client.PutAsync("late", [2]);
        var error = await Assert.ThrowsAsync<OperationTimeoutException>(() => late);
        Assert.True(error.OutcomeUnknown);
        var calls = shard.Calls;
        shard.Release();
        await Assert.ThrowsAsync<OperationTimeoutException>(() => first);

        // The lane's call came back after "late" was abandoned: it left the queue unsent.
        await Task.Delay(200);
        Assert.Equal(calls, shard.Calls);
        Assert.Equal(KvStatus.NotFound, shard.State.Get("late").Status);
        Assert.Equal(KvStatus.Ok, shard.State.Get("first").Status);
        // And the lane is free again.
        await client.PutAsync("after", [3]);
    }

    [Fact]
    public async Task A_batch_stays_within_its_byte_limit_and_a_large_value_travels_alone()
    {
        var shard = new HeldShard();
        await using var client = ClientOver(shard, callsPerShard: 1);
        await client.PutAsync("warm", [0]);

        shard.Hold();
        var first = client.PutAsync("big0", new byte[KeyRules.MaxValueBytes]);
        await shard.WaitForHeldAsync(1);
        var bigs = Enumerable.Range(1, 2).Select(i => client.PutAsync($"big{i}", new byte[KeyRules.MaxValueBytes])).ToList();
        var smalls = Enumerable.Range(0, 3).Select(i => client.PutAsync($"small{i}", [1])).ToList();
        shard.Release();
        await Task.WhenAll([first, .. bigs, .. smalls]);

        // Each 1 MiB value is over the 1 MiB batch limit with anything else: it went alone, and
        // the small ones together.
        Assert.Equal(KeyRules.MaxValueBytes, shard.State.Get("big2").Value!.Length);
        Assert.Equal([3], shard.Batches);
        Assert.True(shard.Calls >= 5, $"calls: {shard.Calls}");
    }

    [Fact]
    public async Task With_batching_off_every_operation_is_its_own_call()
    {
        var shard = new HeldShard();
        await using var client = ClientOver(shard, callsPerShard: 0);
        await client.PutAsync("warm", [0]);
        await Task.WhenAll(Enumerable.Range(0, 20).Select(i => client.PutAsync($"k{i}", [1])));
        Assert.Empty(shard.Batches);
        Assert.Equal(22, shard.Calls);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task An_operation_whose_caller_gives_up_leaves_the_lane_at_once_though_every_call_hangs(bool byCancellation)
    {
        var shard = new HeldShard();
        var batcher = new OperationBatcher(_ => shard, callsPerShard: 1, maxBatchOperations: 16, maxBatchBytes: 4 << 20);
        shard.Hold();
        var hung = batcher.Write(0, new WriteRequest(WriteKind.Put, "hung", [1], 0, 1, 1, 0), DateTime.UtcNow.AddMinutes(5));
        await shard.WaitForHeldAsync(1);

        // The lane's only call hangs: what waits behind it must not wait for it, payload and all.
        using var cancel = new CancellationTokenSource();
        var deadline = byCancellation ? DateTime.UtcNow.AddMinutes(5) : DateTime.UtcNow.AddMilliseconds(200);
        var late = batcher.Write(0, new WriteRequest(WriteKind.Put, "late", new byte[1 << 20], 0, 1, 2, 0), deadline, cancel.Token);
        Assert.Equal(1, batcher.WaitingIn(0));
        if (byCancellation)
        {
            cancel.Cancel();
        }

        await Assert.ThrowsAsync<TimeoutException>(() => late.WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.Equal(0, batcher.WaitingIn(0));
        Assert.False(hung.IsCompleted);

        shard.Release();
        await hung;
        Assert.Equal(KvStatus.NotFound, shard.State.Get("late").Status);
        Assert.Equal(0, batcher.WaitingIn(0));
    }

    [Fact]
    public void Batching_settings_out_of_range_are_refused_by_name()
    {
        var error = Assert.Throws<ArgumentException>(() => new ActorClusterClientOptions { BatchCallsPerShard = -1 }.Validate());
        Assert.Contains("BatchCallsPerShard", error.Message);
        error = Assert.Throws<ArgumentException>(() => new ActorClusterClientOptions { MaxBatchOperations = 0 }.Validate());
        Assert.Contains("MaxBatchOperations", error.Message);
        error = Assert.Throws<ArgumentException>(() => new ActorClusterClientOptions { MaxBatchBytes = 10 }.Validate());
        Assert.Contains("MaxBatchBytes", error.Message);
    }

    private static ActorClusterClient ClientOver(HeldShard shard, int callsPerShard = 2, int retries = 5) =>
        ActorClusterClient.OverShards(_ => shard, OneShard, new ActorClusterClientOptions { Retries = retries, TimeoutMilliseconds = 10_000, BatchCallsPerShard = callsPerShard });

    /// <summary>A shard over a real state machine whose calls wait while it is held.</summary>
    private sealed class HeldShard : IShardGrain
    {
        private readonly Lock _lock = new();
        private TaskCompletionSource _gate = CompletedGate();
        private ulong _index;
        private int _held;

        public KvStateMachine State { get; } = new();

        /// <summary>The size of every batch (Execute call) received.</summary>
        public List<int> Batches { get; } = [];

        public int Calls { get; private set; }

        public int HeldCount => Volatile.Read(ref _held);

        public int FailedBatches { get; private set; }

        public Exception? FailNextBatchAfterApplying { get; set; }

        public void Hold()
        {
            lock (_lock)
            {
                _gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            }
        }

        public void Release()
        {
            lock (_lock)
            {
                _gate.TrySetResult();
            }
        }

        public async Task WaitForHeldAsync(int count)
        {
            var deadline = DateTime.UtcNow.AddSeconds(10);
            while (HeldCount < count)
            {
                Assert.True(DateTime.UtcNow < deadline, $"only {HeldCount} calls arrived");
                await Task.Delay(5);
            }
        }

        public async Task<KvResponse> Write(WriteRequest request)
        {
            await EnterAsync();
            return Apply(request);
        }

        public async Task<KvResponse> Read(string key, ReadConsistency consistency)
        {
            await EnterAsync();
            return State.Get(key);
        }

        /// <summary>The span current when each batch was sent.</summary>
        public List<System.Diagnostics.Activity?> BatchSpans { get; } = [];

        public async Task<KvResponse[]> Execute(KvOperation[] operations)
        {
            lock (_lock)
            {
                BatchSpans.Add(System.Diagnostics.Activity.Current);
            }

            await EnterAsync();
            lock (_lock)
            {
                Batches.Add(operations.Length);
            }

            var answers = operations.Select(o => o.Write is { } write ? Apply(write) : State.Get(o.ReadKey!)).ToArray();
            if (FailNextBatchAfterApplying is { } failure)
            {
                FailNextBatchAfterApplying = null;
                FailedBatches++;
                throw failure;
            }

            return answers;
        }

        public Task<ShardStatus> GetStatus() => throw new NotSupportedException();

        private static TaskCompletionSource CompletedGate()
        {
            var gate = new TaskCompletionSource();
            gate.SetResult();
            return gate;
        }

        private async Task EnterAsync()
        {
            Task gate;
            lock (_lock)
            {
                Calls++;
                gate = _gate.Task;
            }

            if (!gate.IsCompleted)
            {
                Interlocked.Increment(ref _held);
                await gate;
                Interlocked.Decrement(ref _held);
            }
        }

        private KvResponse Apply(WriteRequest request)
        {
            lock (_lock)
            {
                return State.Apply(++_index, KvCommand.From(request));
            }
        }
    }
}

using System.Diagnostics;
using ActorCluster.Client;
using ActorCluster.Grains.Interfaces;
using ActorCluster.Grains.Interfaces.Kv;
using ActorCluster.Grains.Kv;

namespace ActorCluster.Tests.Client;

/// <summary>
/// The client's own logic against a scripted shard: which failures count as "not applied", how
/// retries back off, and how sessions are opened, renewed and lost.
/// </summary>
public sealed class ActorClusterClientTests
{
    private static readonly RingDescriptor OneShard = new(1, 3, 1);

    [Fact]
    public async Task A_write_whose_silo_died_after_applying_it_is_retried_in_its_session_and_applies_once()
    {
        var shard = new ScriptedShard();
        // The silo applies the swap and dies before answering: Orleans reports the silo as unavailable.
        shard.AfterApply.Enqueue(new SiloUnavailableException("the target silo became unavailable"));
        var client = ClientOver(shard);
        var result = await client.CompareAndSwapAsync("k", 0, "v"u8.ToArray());
        // The retry carried the same session and sequence: it got the first answer, not a mismatch.
        Assert.True(result.Succeeded);
        Assert.Equal(1, shard.State.Count);
        Assert.Equal(2, shard.WriteAttempts);
    }

    [Fact]
    public async Task A_write_that_may_have_been_applied_is_never_reported_as_not_applied()
    {
        var shard = new ScriptedShard();
        for (var i = 0; i < 10; i++)
        {
            shard.AfterApply.Enqueue(new SiloUnavailableException("the target silo became unavailable"));
        }

        var client = ClientOver(shard, retries: 3);
        var error = await Assert.ThrowsAnyAsync<ActorClusterException>(() => client.PutAsync("k", [1]));
        Assert.IsType<ClusterUnavailableException>(error);
        Assert.True(error.OutcomeUnknown, "a rejection after sending must not count as 'not applied'");
        Assert.Equal(KvStatus.Ok, shard.State.Get("k").Status);
    }

    [Fact]
    public async Task A_failed_read_is_unavailable_and_says_nothing_about_outcomes()
    {
        var shard = new ScriptedShard { FailReadsWith = new SiloUnavailableException("gone") };
        var client = ClientOver(shard, retries: 2);
        var error = await Assert.ThrowsAsync<ClusterUnavailableException>(() => client.GetAsync("k"));
        Assert.False(error.OutcomeUnknown);
        Assert.Equal(3, shard.ReadAttempts);
    }

    [Fact]
    public async Task An_exception_the_cluster_could_not_even_send_back_is_a_typed_error_with_an_unknown_outcome()
    {
        // A silo once answered with an exception type it had no codec for: the client received
        // Orleans' CodecNotFoundException, which is neither an OrleansException nor a timeout, and
        // it escaped the client raw (the chaos run's client process died of it).
        var shard = new ScriptedShard();
        for (var i = 0; i < 10; i++)
        {
            shard.AfterApply.Enqueue(new Orleans.Serialization.CodecNotFoundException("Could not find a codec for type Some.StoreException."));
        }

        var client = ClientOver(shard, retries: 2);
        var error = await Assert.ThrowsAsync<ClusterUnavailableException>(() => client.PutAsync("k", [1]));
        Assert.True(error.OutcomeUnknown, "the write was sent: its outcome is unknown");
        Assert.IsType<Orleans.Serialization.CodecNotFoundException>(error.InnerException);

        var reads = new ScriptedShard { FailReadsWith = new InvalidOperationException("anything at all") };
        var readError = await Assert.ThrowsAsync<ClusterUnavailableException>(() => ClientOver(reads, retries: 1).GetAsync("k"));
        Assert.False(readError.OutcomeUnknown);
        Assert.Equal(2, reads.ReadAttempts);
    }

    [Fact]
    public async Task Retries_back_off_exponentially()
    {
        var shard = new ScriptedShard { FailReadsWith = new GatewayTooBusyException() };
        var client = ClientOver(shard, retries: 4, timeoutMs: 10_000);
        await Assert.ThrowsAsync<ClusterUnavailableException>(() => client.GetAsync("k"));
        var gaps = shard.ReadTimes.Zip(shard.ReadTimes.Skip(1), (a, b) => b - a).ToList();
        Assert.Equal(4, gaps.Count);
        // Attempt n waits at least half of min(25 ms * 2^(n-1), 1 s).
        Assert.All(gaps.Select((gap, i) => (gap, floor: TimeSpan.FromMilliseconds(Math.Min(1000, 25 << i) / 2.0 - 1))), g => Assert.True(g.gap >= g.floor, $"{g.gap} < {g.floor}"));
        Assert.True(gaps[^1] > gaps[0], $"gaps did not grow: {string.Join(", ", gaps)}");
    }

    [Fact]
    public async Task A_session_that_expired_while_idle_is_renewed_and_the_write_sent_again()
    {
        var shard = new ScriptedShard();
        var client = ClientOver(shard);
        await client.PutAsync("a", [1]);
        Assert.Equal(1, shard.SessionsOpened);
        shard.ExpireAllSessions();

        // The first attempt meets no session: nothing of it applied, so it goes again in a new one.
        var version = await client.PutAsync("b", [2]);
        Assert.Equal(2, shard.SessionsOpened);
        Assert.Equal(version, shard.State.Get("b").Version);
    }

    [Fact]
    public async Task A_session_lost_between_two_attempts_of_one_write_is_an_unknown_outcome()
    {
        var shard = new ScriptedShard();
        var client = ClientOver(shard);
        await client.PutAsync("a", [1]);
        // The write applies, the silo dies before answering, and the session expires before the retry.
        shard.AfterApply.Enqueue(new SiloUnavailableException("gone"));
        shard.ExpireSessionsAfterNextApply = true;
        var error = await Assert.ThrowsAsync<SessionExpiredException>(() => client.PutAsync("b", [2]));
        Assert.True(error.OutcomeUnknown);
        Assert.Equal(KvStatus.Ok, shard.State.Get("b").Status);
        // The next write opens a new session.
        await client.PutAsync("c", [3]);
        Assert.Equal(2, shard.SessionsOpened);
    }

    [Fact]
    public async Task A_full_shard_refuses_with_a_typed_error_and_deletes_still_work()
    {
        // Room for one key of 60 bytes (with its 64 bytes of bookkeeping), not two.
        var shard = new ScriptedShard { QuotaBytes = 200 };
        var client = ClientOver(shard);
        await client.PutAsync("a", new byte[60]);
        var error = await Assert.ThrowsAsync<QuotaExceededException>(() => client.PutAsync("b", new byte[60]));
        Assert.False(error.OutcomeUnknown);
        Assert.Equal(KvStatus.NotFound, shard.State.Get("b").Status);
        Assert.True(await client.DeleteAsync("a"));
        await client.PutAsync("b", new byte[60]);
    }

    private static ActorClusterClient ClientOver(ScriptedShard shard, int retries = 5, int timeoutMs = 5_000) =>
        ActorClusterClient.OverShards(_ => shard, OneShard, new ActorClusterClientOptions { Retries = retries, TimeoutMilliseconds = timeoutMs });

    /// <summary>A shard grain over a real state machine, with failures scripted per call.</summary>
    private sealed class ScriptedShard : IShardGrain
    {
        private readonly Stopwatch _clock = Stopwatch.StartNew();
        private ulong _index;

        public KvStateMachine State { get; } = new();

        /// <summary>Thrown after the next writes were applied (one per write), as by a silo that died before answering.</summary>
        public Queue<Exception> AfterApply { get; } = new();

        public Exception? FailReadsWith { get; init; }

        public ulong QuotaBytes { get; init; }

        public bool ExpireSessionsAfterNextApply { get; set; }

        public int WriteAttempts { get; private set; }

        public int ReadAttempts => ReadTimes.Count;

        public List<TimeSpan> ReadTimes { get; } = [];

        public int SessionsOpened { get; private set; }

        public void ExpireAllSessions()
        {
            // Log time jumps far ahead: every session is idle past the ttl.
            State.Apply(++_index, new KvCommand(WriteKind.OpenSession, string.Empty, null, 0, 0, 0, 0) { TimestampMs = 10_000_000, SessionTtlMs = 1 });
            State.Apply(++_index, new KvCommand(WriteKind.OpenSession, string.Empty, null, 0, 0, 0, 0) { TimestampMs = 20_000_000, SessionTtlMs = 1 });
        }

        public Task<KvResponse> Write(WriteRequest request)
        {
            if (request.Kind == WriteKind.OpenSession)
            {
                SessionsOpened++;
            }
            else
            {
                WriteAttempts++;
            }

            var answer = State.Apply(++_index, KvCommand.From(request) with { QuotaBytes = QuotaBytes });
            if (request.Kind != WriteKind.OpenSession && ExpireSessionsAfterNextApply)
            {
                ExpireSessionsAfterNextApply = false;
                ExpireAllSessions();
            }

            return request.Kind != WriteKind.OpenSession && AfterApply.TryDequeue(out var failure) ? Task.FromException<KvResponse>(failure) : Task.FromResult(answer);
        }

        public Task<KvResponse> Read(string key, ReadConsistency consistency)
        {
            ReadTimes.Add(_clock.Elapsed);
            return FailReadsWith is { } failure ? Task.FromException<KvResponse>(failure) : Task.FromResult(State.Get(key));
        }

        public async Task<KvResponse[]> Execute(KvOperation[] operations)
        {
            var answers = new KvResponse[operations.Length];
            for (var i = 0; i < operations.Length; i++)
            {
                answers[i] = operations[i].Write is { } write ? await Write(write) : await Read(operations[i].ReadKey!, operations[i].Consistency);
            }

            return answers;
        }

        public Task<ShardStatus> GetStatus() => throw new NotSupportedException();
    }
}

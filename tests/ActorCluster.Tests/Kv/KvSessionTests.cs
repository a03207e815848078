using System.Text;
using ActorCluster.Grains.Interfaces.Kv;
using ActorCluster.Grains.Kv;

namespace ActorCluster.Tests.Kv;

/// <summary>
/// Client sessions (Raft thesis §6.3): a retried write applies at most once, and a session that
/// is gone — expired by log time or evicted — is detected, never silently recreated.
/// </summary>
public sealed class KvSessionTests
{
    private ulong _index;

    [Fact]
    public void Opening_a_session_returns_its_id_the_log_index_of_the_open()
    {
        var kv = new KvStateMachine();
        _index = 41;
        Assert.Equal(new KvResponse(KvStatus.Ok, 42), kv.Apply(42, Open()));
        Assert.True(kv.HasSession(42));
        Assert.Equal(1, kv.SessionCount);
    }

    [Fact]
    public void A_write_in_a_session_that_was_never_opened_is_refused_and_not_applied()
    {
        var kv = new KvStateMachine();
        var answer = kv.Apply(++_index, Put("a", "1", session: 99, sequence: 1));
        Assert.Equal(KvStatus.SessionExpired, answer.Status);
        Assert.Equal(0, kv.Count);
        Assert.False(kv.HasSession(99));
    }

    [Fact]
    public void A_retried_write_returns_the_first_answer_and_applies_once()
    {
        var kv = new KvStateMachine();
        var session = OpenIn(kv);
        var otherSession = OpenIn(kv);
        var first = kv.Apply(++_index, Put("a", "1", session, sequence: 5));
        kv.Apply(++_index, Put("a", "other-client", otherSession, sequence: 1));
        // The same session and sequence again (a retry after a lost answer), even with other bytes.
        var retry = kv.Apply(++_index, Put("a", "ignored", session, sequence: 5));
        Assert.Equal(first, retry);
        Assert.Equal("other-client", Encoding.UTF8.GetString(kv.Get("a").Value!));
    }

    [Fact]
    public void Answers_below_the_clients_horizon_are_forgotten_and_a_late_retry_is_refused()
    {
        var kv = new KvStateMachine();
        var session = OpenIn(kv);
        kv.Apply(++_index, Put("a", "1", session, sequence: 1));
        kv.Apply(++_index, Put("b", "2", session, sequence: 2) with { CompletedBelow = 2 });
        var late = kv.Apply(++_index, Put("a", "again", session, sequence: 1));
        Assert.Equal(KvStatus.SessionExpired, late.Status);
        Assert.Equal("1", Encoding.UTF8.GetString(kv.Get("a").Value!));
    }

    [Fact]
    public void A_session_remembers_a_bounded_number_of_answers()
    {
        var kv = new KvStateMachine(new KvLimits(MaxSessions: 10, MaxSessionBytes: 1 << 20, MaxResultsPerSession: 3));
        var session = OpenIn(kv);
        for (ulong s = 1; s <= 5; s++)
        {
            kv.Apply(++_index, Put($"k{s}", "v", session, sequence: s));
        }

        // Sequences 1 and 2 were pushed out: a retry of them is refused, not re-applied.
        Assert.Equal(KvStatus.SessionExpired, kv.Apply(++_index, Put("k1", "x", session, sequence: 2)).Status);
        Assert.Equal(KvStatus.Ok, kv.Apply(++_index, Put("k5", "x", session, sequence: 5)).Status);
        Assert.Equal("v", Encoding.UTF8.GetString(kv.Get("k5").Value!));
    }

    [Fact]
    public void An_evicted_sessions_retry_is_refused_never_applied_again()
    {
        // The defect this replaces: eviction forgot a client without trace, and its retry applied twice.
        var kv = new KvStateMachine(new KvLimits(MaxSessions: 2, MaxSessionBytes: 1 << 20, MaxResultsPerSession: 10));
        var first = OpenIn(kv);
        var done = kv.Apply(++_index, CasCreate("counter", "1", first, sequence: 1));
        Assert.Equal(KvStatus.Ok, done.Status);
        OpenIn(kv);
        OpenIn(kv);
        Assert.False(kv.HasSession(first));

        var deleter = OpenIn(kv);
        kv.Apply(++_index, Delete("counter", deleter, sequence: 1));
        var retry = kv.Apply(++_index, CasCreate("counter", "1", first, sequence: 1));
        Assert.Equal(KvStatus.SessionExpired, retry.Status);
        Assert.Equal(KvStatus.NotFound, kv.Get("counter").Status);
    }

    [Fact]
    public void The_least_recently_active_session_is_evicted_first()
    {
        var kv = new KvStateMachine(new KvLimits(MaxSessions: 2, MaxSessionBytes: 1 << 20, MaxResultsPerSession: 10));
        var one = OpenIn(kv, atMs: 1);
        var two = OpenIn(kv, atMs: 2);
        var answer = kv.Apply(++_index, Put("a", "3", one, sequence: 1, atMs: 3));
        var three = OpenIn(kv, atMs: 4);
        Assert.Equal(2, kv.SessionCount);
        Assert.True(kv.HasSession(one) && kv.HasSession(three) && !kv.HasSession(two));
        // Session one was active more recently than session two, so its answers survive.
        Assert.Equal(answer, kv.Apply(++_index, Put("a", "x", one, sequence: 1, atMs: 5)));
    }

    [Fact]
    public void Session_memory_is_bounded_in_bytes()
    {
        var kv = new KvStateMachine(new KvLimits(MaxSessions: 1_000, MaxSessionBytes: 2_000, MaxResultsPerSession: 100));
        for (ulong i = 1; i <= 20; i++)
        {
            var session = OpenIn(kv, atMs: i * 10);
            for (ulong s = 1; s <= 5; s++)
            {
                // Answers with a long error text cost more bytes.
                var answer = kv.Apply(++_index, Put(new string('k', KeyRules.MaxKeyBytes + 1), "v", session, sequence: s, atMs: i * 10));
                Assert.Equal(KvStatus.InvalidRequest, answer.Status);
            }

            Assert.True(kv.SessionBytes <= 2_000, $"{kv.SessionBytes} bytes of sessions");
            Assert.True(kv.HasSession(session), "the session in use was evicted");
        }

        Assert.True(kv.SessionCount < 20, $"{kv.SessionCount} sessions");
        Assert.Equal(kv.SessionBytes, Restored(kv).SessionBytes);
    }

    [Fact]
    public void A_session_idle_longer_than_its_ttl_in_log_time_expires_and_its_retry_is_refused()
    {
        var kv = new KvStateMachine();
        var idle = OpenIn(kv, atMs: 1_000);
        var busy = OpenIn(kv, atMs: 1_000);
        var first = kv.Apply(++_index, Put("x", "1", idle, sequence: 1, atMs: 2_000, ttlMs: 10_000));
        Assert.Equal(KvStatus.Ok, first.Status);
        for (ulong t = 3_000, s = 1; t <= 20_000; t += 1_000, s++)
        {
            kv.Apply(++_index, Put("y", $"{t}", busy, sequence: s, atMs: t, ttlMs: 10_000));
        }

        // Log time 20 s: the idle session was last active at 2 s, more than 10 s ago.
        Assert.False(kv.HasSession(idle));
        Assert.True(kv.HasSession(busy));
        kv.Apply(++_index, Delete("x", busy, sequence: 100, atMs: 20_000));
        var retry = kv.Apply(++_index, Put("x", "1", idle, sequence: 1, atMs: 20_500, ttlMs: 10_000));
        Assert.Equal(KvStatus.SessionExpired, retry.Status);
        Assert.Equal(KvStatus.NotFound, kv.Get("x").Status);
    }

    [Fact]
    public void Expiry_follows_the_log_not_a_clock_and_the_log_clock_never_goes_back()
    {
        var kv = new KvStateMachine();
        var session = OpenIn(kv, atMs: 50_000);
        // A leader with a slower clock stamps an older time: the log's clock stays where it was.
        kv.Apply(++_index, Put("a", "1", session, sequence: 1, atMs: 10_000, ttlMs: 5_000));
        Assert.Equal(50_000UL, kv.ClockMs);
        Assert.True(kv.HasSession(session));
        // No expiry without a ttl stamped; with one, at the first command past it.
        kv.Apply(++_index, Put("a", "2", session, sequence: 2, atMs: 50_000));
        var other = OpenIn(kv, atMs: 70_000);
        Assert.True(kv.HasSession(session));
        kv.Apply(++_index, Put("b", "1", other, sequence: 1, atMs: 70_000, ttlMs: 5_000));
        Assert.False(kv.HasSession(session));
    }

    [Fact]
    public void Restored_replicas_expire_the_same_sessions_as_the_original()
    {
        var kv = new KvStateMachine();
        var sessions = Enumerable.Range(0, 10).Select(i => OpenIn(kv, atMs: (ulong)i * 1_000)).ToList();
        var copy = Restored(kv);
        var next = OpenIn(kv, atMs: 12_500);
        copy.Apply(_index, Open(atMs: 12_500));
        var command = Put("z", "1", next, sequence: 1, atMs: 12_500, ttlMs: 8_000);
        kv.Apply(++_index, command);
        copy.Apply(_index, command);
        Assert.Equal(kv.CreateSnapshot(), copy.CreateSnapshot());
        Assert.Equal(sessions.Select(kv.HasSession), sessions.Select(copy.HasSession));
        Assert.Equal([false, false, false, false, false, true, true, true, true, true], sessions.Select(kv.HasSession));
    }

    private ulong OpenIn(KvStateMachine kv, ulong atMs = 0) => kv.Apply(++_index, Open(atMs)).Version;

    private static KvCommand Open(ulong atMs = 0) => new(WriteKind.OpenSession, string.Empty, null, 0, 0, 0, 0) { TimestampMs = atMs };

    private static KvCommand Put(string key, string value, ulong session, ulong sequence, ulong atMs = 0, ulong ttlMs = 0) =>
        new(WriteKind.Put, key, Encoding.UTF8.GetBytes(value), 0, session, sequence, 0) { TimestampMs = atMs, SessionTtlMs = ttlMs };

    private static KvCommand CasCreate(string key, string value, ulong session, ulong sequence) =>
        new(WriteKind.CompareAndSwap, key, Encoding.UTF8.GetBytes(value), 0, session, sequence, 0);

    private static KvCommand Delete(string key, ulong session, ulong sequence, ulong atMs = 0) =>
        new(WriteKind.Delete, key, null, 0, session, sequence, 0) { TimestampMs = atMs };

    private static KvStateMachine Restored(KvStateMachine source)
    {
        var copy = new KvStateMachine();
        copy.Restore(source.CreateSnapshot());
        return copy;
    }
}

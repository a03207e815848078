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

    [Fact]
    public void A_write_with_another_clients_token_is_refused_untouched_and_never_answered_from_the_sessions_memory()
    {
        var kv = new KvStateMachine(new KvLimits(MaxSessions: 10, MaxSessionBytes: 1 << 20, MaxResultsPerSession: 8));
        var owner = KvCommand.HashToken([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16]);
        var thief = KvCommand.HashToken([16, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1]);
        var session = kv.Apply(++_index, Open(atMs: 1_000) with { SessionTokenHash = owner }).Version;

        // Before the owner's first write: the thief's sequence 1 applies nothing and is not remembered.
        var stolen = kv.Apply(++_index, Put("k", "thief", session, sequence: 1, atMs: 9_000) with { SessionTokenHash = thief, CompletedBelow = 5 });
        Assert.Equal(KvStatus.SessionNotOwned, stolen.Status);
        Assert.Equal(KvStatus.NotFound, kv.Get("k").Status);
        var mine = kv.Apply(++_index, Put("k", "owner", session, sequence: 1, atMs: 9_000) with { SessionTokenHash = owner });
        Assert.Equal(KvStatus.Ok, mine.Status);
        Assert.Equal("owner", Encoding.UTF8.GetString(kv.Get("k").Value!));

        // After it: the thief's replay of sequence 1 is not handed the owner's remembered answer.
        var replay = kv.Apply(++_index, Put("k", "thief", session, sequence: 1) with { SessionTokenHash = thief });
        Assert.Equal(KvStatus.SessionNotOwned, replay.Status);
        Assert.NotEqual(mine.Version, replay.Version);
        // The owner's own retry still gets its answer: the thief moved no horizon.
        Assert.Equal(mine, kv.Apply(++_index, Put("k", "owner", session, sequence: 1) with { SessionTokenHash = owner }));
        // A write without a token (zeros) is no better than a wrong one.
        Assert.Equal(KvStatus.SessionNotOwned, kv.Apply(++_index, Put("k", "none", session, sequence: 2)).Status);

        // The binding survives a snapshot.
        var copy = Restored(kv);
        Assert.Equal(KvStatus.SessionNotOwned, copy.Apply(++_index, Put("k", "thief", session, sequence: 2) with { SessionTokenHash = thief }).Status);
        Assert.Equal(KvStatus.Ok, copy.Apply(++_index, Put("k", "owner", session, sequence: 2) with { SessionTokenHash = owner }).Status);
    }

    [Fact]
    public void A_thief_does_not_keep_a_session_alive()
    {
        var kv = new KvStateMachine();
        var owner = KvCommand.HashToken([7]);
        var session = kv.Apply(++_index, Open(atMs: 1_000) with { SessionTokenHash = owner }).Version;
        var other = OpenIn(kv, atMs: 1_000);
        for (ulong at = 2_000; at <= 6_000; at += 1_000)
        {
            kv.Apply(++_index, Put("t", "x", session, sequence: 1, atMs: at, ttlMs: 3_000) with { SessionTokenHash = KvCommand.HashToken([8]) });
            kv.Apply(++_index, Put("o", "x", other, sequence: at, atMs: at, ttlMs: 3_000));
        }

        Assert.False(kv.HasSession(session));
    }

    [Fact]
    public void A_snapshot_from_before_session_tokens_restores_with_sessions_that_take_no_token()
    {
        // Format "KVS2": magic, applied index, clock, sessions (id, last active, horizon, answers), keys.
        var bytes = new List<byte>();
        void U32(uint v) => bytes.AddRange(BitConverter.GetBytes(v));
        void U64(ulong v) => bytes.AddRange(BitConverter.GetBytes(v));
        U32(0x4B56_5332);
        U64(10);
        U64(5_000);
        U32(1);
        U64(3);
        U64(5_000);
        U64(0);
        U32(0);
        U32(1);
        U32(1);
        bytes.Add((byte)'a');
        U64(7);
        U32(1);
        bytes.Add(42);
        var kv = new KvStateMachine();
        kv.Restore(bytes.ToArray());
        Assert.True(kv.HasSession(3));
        Assert.Equal(new KvResponse(KvStatus.Ok, 7, [42]), kv.Get("a"), new ResponseComparer());
        // Commands of the old format carry no token hash either: they apply as they did when written.
        Assert.Equal(KvStatus.Ok, kv.Apply(11, Put("b", "1", session: 3, sequence: 1)).Status);
        Assert.Equal(KvStatus.SessionNotOwned, kv.Apply(12, Put("b", "2", session: 3, sequence: 2) with { SessionTokenHash = KvCommand.HashToken([1]) }).Status);
    }

    private sealed class ResponseComparer : IEqualityComparer<KvResponse>
    {
        public bool Equals(KvResponse? x, KvResponse? y) => x?.Status == y?.Status && x?.Version == y?.Version && (x?.Value ?? []).SequenceEqual(y?.Value ?? []);

        public int GetHashCode(KvResponse obj) => obj.Version.GetHashCode();
    }

    [Fact]
    public void A_leader_stamping_a_time_far_ahead_does_not_expire_the_sessions_active_at_the_previous_entry()
    {
        var kv = new KvStateMachine();
        const ulong Ttl = 60_000;
        var quiet = OpenIn(kv, atMs: 1_000);
        var active = OpenIn(kv, atMs: 1_000);
        kv.Apply(++_index, Put("a", "1", active, sequence: 1, atMs: 20_000, ttlMs: Ttl));
        Assert.Equal(20_000UL, kv.ClockMs);

        // A leader whose wall clock jumped ten hours ahead: the log's time moves half a ttl, no more.
        kv.Apply(++_index, Put("a", "2", active, sequence: 2, atMs: 20_000 + (10 * 3_600_000), ttlMs: Ttl));
        Assert.Equal(20_000 + (Ttl / 2), kv.ClockMs);
        Assert.True(kv.HasSession(active));
        Assert.True(kv.HasSession(quiet));

        // Entry by entry it still gets there: a session idle for longer than its ttl expires.
        kv.Apply(++_index, Put("a", "3", active, sequence: 3, atMs: 20_000 + (10 * 3_600_000), ttlMs: Ttl));
        Assert.Equal(20_000 + Ttl, kv.ClockMs);
        Assert.False(kv.HasSession(quiet));
        Assert.True(kv.HasSession(active));
    }

    [Fact]
    public void A_command_from_before_the_clock_bound_moves_the_clock_as_it_did_when_first_applied()
    {
        // A replica replaying an old log must reach the state the others reached then: an entry of
        // format 2 stamped far ahead (an idle gap, say) moves the log's time all the way.
        var kv = new KvStateMachine();
        var session = OpenIn(kv, atMs: 1_000);
        var encoded = Put("a", "1", session, sequence: 1, atMs: 7_200_000, ttlMs: 3_600_000).Encode();
        byte[] format2 = [2, .. encoded.AsSpan(1, 63), .. encoded.AsSpan(80)];
        var old = KvCommand.Decode(format2);
        Assert.True(old.IsFormat2);
        kv.Apply(++_index, old);
        Assert.Equal(7_200_000UL, kv.ClockMs);
        Assert.False(kv.HasSession(session));
    }

    [Fact]
    public void The_log_clock_runs_on_the_leaders_monotonic_time_from_where_the_log_stood()
    {
        const ulong Far = ulong.MaxValue;
        var clock = new LogClock(ticksPerSecond: 1_000);
        // Term 3's leader takes over with the log at 50 s: it counts on from there.
        Assert.Equal(50_000UL, clock.Stamp(term: 3, nowTicks: 7_000, appliedClockMs: 50_000, maxAheadMs: Far));
        Assert.Equal(52_500UL, clock.Stamp(term: 3, nowTicks: 9_500, appliedClockMs: 50_000, maxAheadMs: Far));
        // Its monotonic time cannot go back, and nor do its stamps.
        Assert.Equal(52_500UL, clock.Stamp(term: 3, nowTicks: 8_000, appliedClockMs: 50_000, maxAheadMs: Far));
        // Leading again in a later term it starts from the newer of its last stamp and the log.
        Assert.Equal(52_500UL, clock.Stamp(term: 5, nowTicks: 100_000, appliedClockMs: 51_000, maxAheadMs: Far));
        Assert.Equal(53_500UL, clock.Stamp(term: 5, nowTicks: 101_000, appliedClockMs: 51_000, maxAheadMs: Far));
        Assert.Equal(90_000UL, clock.Stamp(term: 6, nowTicks: 200_000, appliedClockMs: 90_000, maxAheadMs: Far));
    }

    [Fact]
    public void A_leader_idle_for_hours_stamps_at_most_half_a_ttl_ahead_and_counts_on_from_there()
    {
        var clock = new LogClock(ticksPerSecond: 1_000);
        Assert.Equal(10_000UL, clock.Stamp(term: 2, nowTicks: 0, appliedClockMs: 10_000, maxAheadMs: 30_000));
        // Ten hours idle: the next stamp is the bound (and stays there until the log has applied
        // it), and time counts on from it, a millisecond at a time.
        Assert.Equal(40_000UL, clock.Stamp(term: 2, nowTicks: 36_000_000, appliedClockMs: 10_000, maxAheadMs: 30_000));
        Assert.Equal(40_000UL, clock.Stamp(term: 2, nowTicks: 36_000_001, appliedClockMs: 10_000, maxAheadMs: 30_000));
        Assert.Equal(40_001UL, clock.Stamp(term: 2, nowTicks: 36_000_002, appliedClockMs: 40_000, maxAheadMs: 30_000));
        Assert.Equal(40_002UL, clock.Stamp(term: 2, nowTicks: 36_000_003, appliedClockMs: 40_001, maxAheadMs: 30_000));
        // Never past the bound, never back either.
        Assert.Equal(40_002UL, clock.Stamp(term: 2, nowTicks: 36_000_004, appliedClockMs: 5_000, maxAheadMs: 30_000));
    }

    [Fact]
    public void A_session_opened_after_a_long_idle_stretch_survives_the_writes_that_follow_it_within_milliseconds()
    {
        // The leader's clock and the state machine together, as the replica drives them: a shard idle
        // for ten hours under one leader, then a session opened and three writes a millisecond apart
        // from another client. Counting the idle stretch entry by entry, half a ttl at a time, would
        // expire the new session a few milliseconds after it opened.
        const ulong Ttl = 3_600_000;
        var kv = new KvStateMachine();
        var clock = new LogClock(ticksPerSecond: 1_000);
        var now = 0L;
        KvResponse Apply(KvCommand command) =>
            kv.Apply(++_index, command with { TimestampMs = clock.Stamp(term: 1, now++, kv.ClockMs, Ttl / 2), SessionTtlMs = Ttl });

        var other = Apply(Open()).Version;
        Assert.Equal(KvStatus.Ok, Apply(Put("a", "1", other, sequence: 1)).Status);
        now += 10 * 3_600_000;
        var fresh = Apply(Open()).Version;
        for (ulong sequence = 2; sequence <= 5; sequence++)
        {
            Assert.Equal(KvStatus.Ok, Apply(Put("a", sequence.ToString(System.Globalization.CultureInfo.InvariantCulture), other, sequence)).Status);
        }

        Assert.True(kv.HasSession(fresh));
        Assert.Equal(KvStatus.Ok, Apply(Put("b", "1", fresh, sequence: 1)).Status);
        // A session idle for longer than the ttl, while others write, still expires.
        for (ulong sequence = 6; sequence <= 9; sequence++)
        {
            now += (long)Ttl / 2;
            Apply(Put("a", "x", other, sequence));
        }

        Assert.False(kv.HasSession(fresh));
        Assert.True(kv.HasSession(other));
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

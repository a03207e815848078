using System.Text;
using ActorCluster.Grains.Interfaces.Kv;
using ActorCluster.Grains.Kv;

namespace ActorCluster.Tests.Kv;

/// <summary>The replicated key-value state machine: semantics, versions, snapshots, quota.</summary>
public sealed class KvStateMachineTests
{
    private ulong _index;
    private ulong _sequence;
    private ulong _session;

    [Fact]
    public void Put_then_get_returns_the_value_with_the_log_index_as_version()
    {
        var kv = new KvStateMachine();
        var put = Write(kv, WriteKind.Put, "a", "1");
        Assert.Equal(new KvResponse(KvStatus.Ok, _index), put);
        var read = kv.Get("a");
        Assert.Equal(KvStatus.Ok, read.Status);
        Assert.Equal(_index, read.Version);
        Assert.Equal("1", Encoding.UTF8.GetString(read.Value!));
        Write(kv, WriteKind.Put, "a", "2");
        Assert.Equal(_index, kv.Get("a").Version);
    }

    [Fact]
    public void A_value_read_is_the_callers_own_copy()
    {
        var kv = new KvStateMachine();
        Write(kv, WriteKind.Put, "a", "stored");
        var read = kv.Get("a");
        read.Value![0] = (byte)'X';
        Assert.Equal("stored", Encoding.UTF8.GetString(kv.Get("a").Value!));
        Assert.Equal(kv.CreateSnapshot(), Restored(kv).CreateSnapshot());
    }

    [Fact]
    public void Delete_removes_the_key_and_a_missing_key_is_not_found()
    {
        var kv = new KvStateMachine();
        Assert.Equal(KvStatus.NotFound, Write(kv, WriteKind.Delete, "a").Status);
        Write(kv, WriteKind.Put, "a", "1");
        Assert.Equal(new KvResponse(KvStatus.Ok, _index + 1), Write(kv, WriteKind.Delete, "a"));
        Assert.Equal(new KvResponse(KvStatus.NotFound, 0), kv.Get("a"));
    }

    [Fact]
    public void Compare_and_swap_succeeds_only_on_the_expected_version()
    {
        var kv = new KvStateMachine();
        // Expected version 0: create only if absent.
        Assert.Equal(KvStatus.Ok, Write(kv, WriteKind.CompareAndSwap, "a", "1", expected: 0).Status);
        var created = _index;
        Assert.Equal(new KvResponse(KvStatus.VersionMismatch, created), Write(kv, WriteKind.CompareAndSwap, "a", "x", expected: 0));
        Assert.Equal(new KvResponse(KvStatus.VersionMismatch, created), Write(kv, WriteKind.CompareAndSwap, "a", "x", expected: 7));
        Assert.Equal("1", Encoding.UTF8.GetString(kv.Get("a").Value!));
        Assert.Equal(new KvResponse(KvStatus.Ok, _index + 1), Write(kv, WriteKind.CompareAndSwap, "a", "2", expected: created));
        var swapped = _index;
        // A swap to no value deletes, again only at the expected version.
        Assert.Equal(KvStatus.VersionMismatch, Write(kv, WriteKind.CompareAndSwap, "a", null, expected: created).Status);
        Assert.Equal(KvStatus.Ok, Write(kv, WriteKind.CompareAndSwap, "a", null, expected: swapped).Status);
        Assert.Equal(KvStatus.NotFound, kv.Get("a").Status);
    }

    [Theory]
    [InlineData("", "v")]
    [InlineData(null, "too-big")]
    public void Bad_input_is_refused_with_a_reason_and_changes_nothing(string? key, string value)
    {
        var kv = new KvStateMachine();
        var session = Open(kv);
        key ??= new string('k', KeyRules.MaxKeyBytes + 1);
        var bytes = value == "too-big" ? new byte[KeyRules.MaxValueBytes + 1] : Encoding.UTF8.GetBytes(value);
        var response = kv.Apply(++_index, new KvCommand(WriteKind.Put, key, bytes, 0, session, 1, 0));
        Assert.Equal(KvStatus.InvalidRequest, response.Status);
        Assert.NotNull(response.Error);
        Assert.Equal(0, kv.Count);
        var tooLongKey = kv.Apply(++_index, new KvCommand(WriteKind.Put, new string('é', 600), [1], 0, session, 2, 0));
        Assert.Equal(KvStatus.InvalidRequest, tooLongKey.Status);
        Assert.Equal(0L, kv.DataBytes);
    }

    [Fact]
    public void Indexes_must_increase()
    {
        var kv = new KvStateMachine();
        var session = Open(kv);
        kv.Apply(5, Command(WriteKind.Put, "a", "1", session, 1));
        Assert.Throws<InvalidOperationException>(() => kv.Apply(5, Command(WriteKind.Put, "a", "1", session, 2)));
        kv.ApplyNoop(6);
        Assert.Equal(6UL, kv.AppliedIndex);
    }

    [Fact]
    public void A_snapshot_restores_keys_versions_sessions_clock_and_sizes_exactly()
    {
        var kv = new KvStateMachine();
        Write(kv, WriteKind.Put, "b", "2");
        Write(kv, WriteKind.Put, "a", "1");
        var other = Open(kv, atMs: 5_000);
        var remembered = kv.Apply(++_index, Command(WriteKind.Put, "c", "3", other, sequence: 7, atMs: 6_000));
        Write(kv, WriteKind.Delete, "b");
        var snapshot = kv.CreateSnapshot();

        var restored = new KvStateMachine();
        restored.Restore(snapshot);
        Assert.Equal(kv.AppliedIndex, restored.AppliedIndex);
        Assert.Equal(2, restored.Count);
        Assert.Equal((KvStatus.Ok, kv.Get("a").Version, "1"), (restored.Get("a").Status, restored.Get("a").Version, Encoding.UTF8.GetString(restored.Get("a").Value!)));
        Assert.Equal(KvStatus.NotFound, restored.Get("b").Status);
        Assert.Equal((kv.ClockMs, kv.DataBytes, kv.SessionCount, kv.SessionBytes), (restored.ClockMs, restored.DataBytes, restored.SessionCount, restored.SessionBytes));
        Assert.Equal(6_000UL, restored.ClockMs);
        Assert.Equal(snapshot, restored.CreateSnapshot());
        // The session survived: the retry still gets its first answer.
        Assert.Equal(remembered, restored.Apply(_index + 1, Command(WriteKind.Put, "c", "x", other, sequence: 7)));
    }

    [Fact]
    public void Replicas_that_applied_the_same_commands_produce_identical_snapshots()
    {
        var a = new KvStateMachine(new KvLimits(MaxSessions: 3, MaxSessionBytes: 1 << 20, MaxResultsPerSession: 4));
        var b = new KvStateMachine(new KvLimits(MaxSessions: 3, MaxSessionBytes: 1 << 20, MaxResultsPerSession: 4));
        var sessions = new List<ulong>();
        for (ulong i = 1; i <= 300; i++)
        {
            // Sessions open, expire by log time and are evicted along the way.
            var command = i % 17 == 1
                ? new KvCommand(WriteKind.OpenSession, string.Empty, null, 0, 0, 0, 0) { TimestampMs = i * 100, SessionTtlMs = 3_000 }
                : Command(WriteKind.Put, $"k{(i * 7919) % 53}", $"v{i}", sessions.Count == 0 ? 0 : sessions[(int)(i % (ulong)sessions.Count)], sequence: i, atMs: i * 100, ttlMs: 3_000);
            var answer = a.Apply(i, command);
            Assert.Equal(answer, b.Apply(i, command));
            if (command.Kind == WriteKind.OpenSession)
            {
                sessions.Add(answer.Version);
            }
        }

        Assert.Equal(a.CreateSnapshot(), b.CreateSnapshot());
        Assert.True(a.SessionCount <= 3);
    }

    [Fact]
    public void A_corrupt_snapshot_is_a_format_error()
    {
        var kv = new KvStateMachine();
        Write(kv, WriteKind.Put, "a", "1");
        var snapshot = kv.CreateSnapshot();
        Assert.Throws<FormatException>(() => new KvStateMachine().Restore(snapshot.AsSpan(0, snapshot.Length - 1)));
        Assert.Throws<FormatException>(() => new KvStateMachine().Restore([1, 2, 3, 4, 5, 6, 7, 8]));
        var empty = new KvStateMachine();
        empty.Restore([]);
        Assert.Equal(0, empty.Count);
    }

    [Fact]
    public void Commands_round_trip_through_their_log_form()
    {
        var token = new byte[] { 9, 8, 7, 6, 5, 4, 3, 2, 1, 0, 1, 2, 3, 4, 5, 6 };
        var command = KvCommand.From(new WriteRequest(WriteKind.CompareAndSwap, "ключ", [1, 2, 3], 17, 0xABCDEF, 99, 12, token)) with { TimestampMs = 1_700_000_000_123, SessionTtlMs = 60_000, QuotaBytes = 1 << 30 };
        var encoded = command.Encode();
        var decoded = KvCommand.Decode(encoded);
        Assert.Equal(command with { Value = null, SessionTokenHash = [] }, decoded with { Value = null, SessionTokenHash = [] });
        Assert.Equal(command.Value, decoded.Value);
        Assert.Equal(System.Security.Cryptography.SHA256.HashData(token)[..16], decoded.SessionTokenHash);
        // The log holds the token's hash, never the token.
        Assert.Equal(-1, encoded.AsSpan().IndexOf(token));
        var deletion = new KvCommand(WriteKind.Delete, "k", null, 0, 1, 1, 0);
        Assert.Null(KvCommand.Decode(deletion.Encode()).Value);
        Assert.Equal(WriteKind.OpenSession, KvCommand.Decode(new KvCommand(WriteKind.OpenSession, string.Empty, null, 0, 0, 0, 0).Encode()).Kind);
        Assert.Equal(352, new KvCommand(WriteKind.Put, new string('k', 16), new byte[256], 0, 1, 1, 0).Encode().Length);

        // Format 2, from before session tokens (the same bytes without the hash), is still read.
        byte[] old = [2, .. encoded.AsSpan(1, 63), .. encoded.AsSpan(80)];
        var legacy = KvCommand.Decode(old);
        Assert.Equal(command with { Value = null, SessionTokenHash = [], IsFormat2 = true }, legacy with { Value = null, SessionTokenHash = [] });
        Assert.Equal(new byte[16], legacy.SessionTokenHash);
        Assert.False(decoded.IsFormat2);
    }

    [Theory]
    [InlineData(new byte[] { })]
    [InlineData(new byte[] { 2, 1 })]
    [InlineData(new byte[] { 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 })]
    [InlineData(new byte[] { 2, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 })]
    public void Malformed_commands_are_a_format_error(byte[] data)
    {
        Assert.Throws<FormatException>(() => KvCommand.Decode(data));
    }

    [Fact]
    public void The_quota_refuses_writes_that_grow_a_full_shard_and_nothing_else()
    {
        var kv = new KvStateMachine();
        var session = Open(kv);
        var value = new byte[400];
        ulong sequence = 0;
        KvResponse Put(string key, byte[] bytes) => kv.Apply(++_index, new KvCommand(WriteKind.Put, key, bytes, 0, session, ++sequence, 0) { QuotaBytes = 1_000 });

        Assert.Equal(KvStatus.Ok, Put("k1", value).Status);
        Assert.Equal(KvStatus.Ok, Put("k2", value).Status);
        // Two keys of 2 bytes with 400-byte values, 64 bytes of overhead each.
        Assert.Equal(932L, kv.DataBytes);
        var full = Put("k3", value);
        Assert.Equal(KvStatus.NoSpace, full.Status);
        Assert.Contains("quota of 1000", full.Error, StringComparison.Ordinal);
        Assert.Equal((2, 932L, KvStatus.NotFound), (kv.Count, kv.DataBytes, kv.Get("k3").Status));

        // The refusal is an answer like any other: a retry of that write gets it again.
        Assert.Equal(full, kv.Apply(++_index, new KvCommand(WriteKind.Put, "k3", value, 0, session, sequence, 0) { QuotaBytes = 1_000 }));
        // Replacing a value with a smaller one, and deleting, still work on a full shard.
        Assert.Equal(KvStatus.Ok, Put("k1", new byte[100]).Status);
        Assert.Equal(632L, kv.DataBytes);
        Assert.Equal(KvStatus.Ok, kv.Apply(++_index, new KvCommand(WriteKind.Delete, "k2", null, 0, session, ++sequence, 0) { QuotaBytes = 1_000 }).Status);
        Assert.Equal(166L, kv.DataBytes);
        Assert.Equal(KvStatus.Ok, Put("k3", value).Status);
        // A compare-and-swap is held to the same quota.
        var cas = kv.Apply(++_index, new KvCommand(WriteKind.CompareAndSwap, "k4", new byte[600], 0, session, ++sequence, 0) { QuotaBytes = 1_000 });
        Assert.Equal(KvStatus.NoSpace, cas.Status);
        Assert.Equal(632L, Restored(kv).DataBytes);
    }

    [Fact]
    public void Many_tiny_keys_fill_the_quota_too()
    {
        var kv = new KvStateMachine();
        var session = Open(kv);
        ulong sequence = 0;
        var stored = 0;
        while (kv.Apply(++_index, new KvCommand(WriteKind.Put, $"k{stored}", [], 0, session, ++sequence, 0) { QuotaBytes = 10_000 }).Status == KvStatus.Ok)
        {
            stored++;
        }

        // Empty values: what fills the shard is the keys and their bookkeeping.
        Assert.InRange(stored, 100, 10_000 / KvStateMachine.KeyOverheadBytes);
        Assert.True(kv.DataBytes <= 10_000);
    }

    [Fact]
    public void Without_a_quota_stamped_nothing_is_refused()
    {
        var kv = new KvStateMachine();
        var session = Open(kv);
        for (ulong i = 1; i <= 5; i++)
        {
            Assert.Equal(KvStatus.Ok, kv.Apply(++_index, new KvCommand(WriteKind.Put, $"k{i}", new byte[KeyRules.MaxValueBytes], 0, session, i, 0)).Status);
        }

        Assert.Equal(5L * (KeyRules.MaxValueBytes + 2 + KvStateMachine.KeyOverheadBytes), kv.DataBytes);
    }

    private KvResponse Write(KvStateMachine kv, WriteKind kind, string key, string? value = null, ulong expected = 0)
    {
        if (_session == 0 || !kv.HasSession(_session))
        {
            _session = Open(kv);
        }

        return kv.Apply(++_index, Command(kind, key, value, _session, ++_sequence, expected: expected));
    }

    private ulong Open(KvStateMachine kv, ulong atMs = 0) =>
        kv.Apply(++_index, new KvCommand(WriteKind.OpenSession, string.Empty, null, 0, 0, 0, 0) { TimestampMs = atMs }).Version;

    private static KvCommand Command(WriteKind kind, string key, string? value, ulong session, ulong sequence, ulong expected = 0, ulong completedBelow = 0, ulong atMs = 0, ulong ttlMs = 0) =>
        new(kind, key, value is null ? null : Encoding.UTF8.GetBytes(value), expected, session, sequence, completedBelow) { TimestampMs = atMs, SessionTtlMs = ttlMs };

    private static KvStateMachine Restored(KvStateMachine source)
    {
        var copy = new KvStateMachine();
        copy.Restore(source.CreateSnapshot());
        return copy;
    }
}

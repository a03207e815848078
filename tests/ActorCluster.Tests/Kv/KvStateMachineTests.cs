using System.Text;
using ActorCluster.Grains.Interfaces.Kv;
using ActorCluster.Grains.Kv;

namespace ActorCluster.Tests.Kv;

/// <summary>The replicated key-value state machine: semantics, versions, sessions, snapshots.</summary>
public sealed class KvStateMachineTests
{
    private ulong _index;
    private ulong _sequence;

    [Fact]
    public void Put_then_get_returns_the_value_with_the_log_index_as_version()
    {
        var kv = new KvStateMachine();
        var put = Write(kv, WriteKind.Put, "a", "1");
        Assert.Equal(new KvResponse(KvStatus.Ok, 1), put);
        var read = kv.Get("a");
        Assert.Equal(KvStatus.Ok, read.Status);
        Assert.Equal(1UL, read.Version);
        Assert.Equal("1", Encoding.UTF8.GetString(read.Value!));
        Write(kv, WriteKind.Put, "a", "2");
        Assert.Equal(2UL, kv.Get("a").Version);
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
        Assert.Equal(new KvResponse(KvStatus.Ok, 3), Write(kv, WriteKind.Delete, "a"));
        Assert.Equal(new KvResponse(KvStatus.NotFound, 0), kv.Get("a"));
    }

    [Fact]
    public void Compare_and_swap_succeeds_only_on_the_expected_version()
    {
        var kv = new KvStateMachine();
        // Expected version 0: create only if absent.
        Assert.Equal(KvStatus.Ok, Write(kv, WriteKind.CompareAndSwap, "a", "1", expected: 0).Status);
        Assert.Equal(new KvResponse(KvStatus.VersionMismatch, 1), Write(kv, WriteKind.CompareAndSwap, "a", "x", expected: 0));
        Assert.Equal(new KvResponse(KvStatus.VersionMismatch, 1), Write(kv, WriteKind.CompareAndSwap, "a", "x", expected: 7));
        Assert.Equal("1", Encoding.UTF8.GetString(kv.Get("a").Value!));
        Assert.Equal(new KvResponse(KvStatus.Ok, 4), Write(kv, WriteKind.CompareAndSwap, "a", "2", expected: 1));
        // A swap to no value deletes, again only at the expected version.
        Assert.Equal(KvStatus.VersionMismatch, Write(kv, WriteKind.CompareAndSwap, "a", null, expected: 1).Status);
        Assert.Equal(KvStatus.Ok, Write(kv, WriteKind.CompareAndSwap, "a", null, expected: 4).Status);
        Assert.Equal(KvStatus.NotFound, kv.Get("a").Status);
    }

    [Fact]
    public void A_retried_write_returns_the_first_answer_and_applies_once()
    {
        var kv = new KvStateMachine();
        var first = kv.Apply(++_index, Command(WriteKind.Put, "a", "1", client: 9, sequence: 5));
        Write(kv, WriteKind.Put, "a", "other-client");
        // The same client and sequence again (a retry after a lost answer), even with other bytes.
        var retry = kv.Apply(++_index, Command(WriteKind.Put, "a", "ignored", client: 9, sequence: 5));
        Assert.Equal(first, retry);
        Assert.Equal("other-client", Encoding.UTF8.GetString(kv.Get("a").Value!));
    }

    [Fact]
    public void Answers_below_the_clients_horizon_are_forgotten_and_a_late_retry_is_refused()
    {
        var kv = new KvStateMachine();
        kv.Apply(++_index, Command(WriteKind.Put, "a", "1", client: 9, sequence: 1));
        kv.Apply(++_index, Command(WriteKind.Put, "b", "2", client: 9, sequence: 2, completedBelow: 2));
        var late = kv.Apply(++_index, Command(WriteKind.Put, "a", "again", client: 9, sequence: 1));
        Assert.Equal(KvStatus.SessionExpired, late.Status);
        Assert.Equal("1", Encoding.UTF8.GetString(kv.Get("a").Value!));
    }

    [Fact]
    public void A_session_remembers_a_bounded_number_of_answers()
    {
        var kv = new KvStateMachine(new KvLimits(MaxSessions: 10, MaxResultsPerSession: 3));
        for (ulong s = 1; s <= 5; s++)
        {
            kv.Apply(++_index, Command(WriteKind.Put, $"k{s}", "v", client: 1, sequence: s));
        }

        // Sequences 1 and 2 were pushed out: a retry of them is refused, not re-applied.
        Assert.Equal(KvStatus.SessionExpired, kv.Apply(++_index, Command(WriteKind.Put, "k1", "x", client: 1, sequence: 2)).Status);
        Assert.Equal(KvStatus.Ok, kv.Apply(++_index, Command(WriteKind.Put, "k5", "x", client: 1, sequence: 5)).Status);
        Assert.Equal("v", Encoding.UTF8.GetString(kv.Get("k5").Value!));
    }

    [Fact]
    public void The_least_recently_active_session_is_evicted_first()
    {
        var kv = new KvStateMachine(new KvLimits(MaxSessions: 2, MaxResultsPerSession: 10));
        kv.Apply(++_index, Command(WriteKind.Put, "a", "1", client: 1, sequence: 1));
        kv.Apply(++_index, Command(WriteKind.Put, "a", "2", client: 2, sequence: 1));
        kv.Apply(++_index, Command(WriteKind.Put, "a", "3", client: 1, sequence: 2));
        kv.Apply(++_index, Command(WriteKind.Put, "a", "4", client: 3, sequence: 1));
        Assert.Equal(2, kv.SessionCount);
        // Client 1 was active more recently than client 2, so its answers survive.
        Assert.Equal(new KvResponse(KvStatus.Ok, 3), kv.Apply(++_index, Command(WriteKind.Put, "a", "x", client: 1, sequence: 2)));
    }

    [Theory]
    [InlineData("", "v")]
    [InlineData(null, "too-big")]
    public void Bad_input_is_refused_with_a_reason_and_changes_nothing(string? key, string value)
    {
        var kv = new KvStateMachine();
        key ??= new string('k', KeyRules.MaxKeyBytes + 1);
        var bytes = value == "too-big" ? new byte[KeyRules.MaxValueBytes + 1] : Encoding.UTF8.GetBytes(value);
        var response = kv.Apply(++_index, new KvCommand(WriteKind.Put, key, bytes, 0, 1, 1, 0));
        Assert.Equal(KvStatus.InvalidRequest, response.Status);
        Assert.NotNull(response.Error);
        Assert.Equal(0, kv.Count);
        var tooLongKey = kv.Apply(++_index, new KvCommand(WriteKind.Put, new string('é', 600), [1], 0, 1, 2, 0));
        Assert.Equal(KvStatus.InvalidRequest, tooLongKey.Status);
    }

    [Fact]
    public void Indexes_must_increase()
    {
        var kv = new KvStateMachine();
        kv.Apply(5, Command(WriteKind.Put, "a", "1", 1, 1));
        Assert.Throws<InvalidOperationException>(() => kv.Apply(5, Command(WriteKind.Put, "a", "1", 1, 2)));
        kv.ApplyNoop(6);
        Assert.Equal(6UL, kv.AppliedIndex);
    }

    [Fact]
    public void A_snapshot_restores_keys_versions_and_sessions_exactly()
    {
        var kv = new KvStateMachine();
        Write(kv, WriteKind.Put, "b", "2");
        Write(kv, WriteKind.Put, "a", "1");
        var remembered = kv.Apply(++_index, Command(WriteKind.Put, "c", "3", client: 42, sequence: 7));
        Write(kv, WriteKind.Delete, "b");
        var snapshot = kv.CreateSnapshot();

        var restored = new KvStateMachine();
        restored.Restore(snapshot);
        Assert.Equal(kv.AppliedIndex, restored.AppliedIndex);
        Assert.Equal(2, restored.Count);
        Assert.Equal((KvStatus.Ok, kv.Get("a").Version, "1"), (restored.Get("a").Status, restored.Get("a").Version, Encoding.UTF8.GetString(restored.Get("a").Value!)));
        Assert.Equal(KvStatus.NotFound, restored.Get("b").Status);
        Assert.Equal(snapshot, restored.CreateSnapshot());
        // The session survived: the retry still gets its first answer.
        Assert.Equal(remembered, restored.Apply(_index + 1, Command(WriteKind.Put, "c", "x", client: 42, sequence: 7)));
    }

    [Fact]
    public void Replicas_that_applied_the_same_commands_produce_identical_snapshots()
    {
        var a = new KvStateMachine();
        var b = new KvStateMachine();
        for (ulong i = 1; i <= 200; i++)
        {
            var command = Command(WriteKind.Put, $"k{(i * 7919) % 53}", $"v{i}", client: i % 5, sequence: i);
            a.Apply(i, command);
            b.Apply(i, command);
        }

        Assert.Equal(a.CreateSnapshot(), b.CreateSnapshot());
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
        var command = new KvCommand(WriteKind.CompareAndSwap, "ключ", [1, 2, 3], 17, 0xABCDEF, 99, 12);
        Assert.Equal(command with { Value = null }, KvCommand.Decode(command.Encode()) with { Value = null });
        Assert.Equal(command.Value, KvCommand.Decode(command.Encode()).Value);
        var deletion = new KvCommand(WriteKind.Delete, "k", null, 0, 1, 1, 0);
        Assert.Null(KvCommand.Decode(deletion.Encode()).Value);
        Assert.Equal(312, new KvCommand(WriteKind.Put, new string('k', 16), new byte[256], 0, 1, 1, 0).Encode().Length);
    }

    [Theory]
    [InlineData(new byte[] { })]
    [InlineData(new byte[] { 2, 1 })]
    [InlineData(new byte[] { 1, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 })]
    public void Malformed_commands_are_a_format_error(byte[] data)
    {
        Assert.Throws<FormatException>(() => KvCommand.Decode(data));
    }

    private KvResponse Write(KvStateMachine kv, WriteKind kind, string key, string? value = null, ulong expected = 0) =>
        kv.Apply(++_index, Command(kind, key, value, client: 1000, sequence: ++_sequence, expected: expected));

    private static KvCommand Command(WriteKind kind, string key, string? value, ulong client, ulong sequence, ulong expected = 0, ulong completedBelow = 0) =>
        new(kind, key, value is null ? null : Encoding.UTF8.GetBytes(value), expected, client, sequence, completedBelow);

    private static KvStateMachine Restored(KvStateMachine source)
    {
        var copy = new KvStateMachine();
        copy.Restore(source.CreateSnapshot());
        return copy;
    }
}

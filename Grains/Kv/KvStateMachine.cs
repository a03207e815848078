using System.Text;
using ActorCluster.Grains.Interfaces.Kv;

namespace ActorCluster.Grains.Kv;

/// <summary>
/// The replicated key-value state: every replica applies the same committed commands in the same
/// order and so holds the same keys, values, versions and client sessions. Pure and deterministic.
/// </summary>
/// <remarks>
/// A key's version is the log index of its last write. Writes run in client sessions (Raft thesis
/// §6.3, see <see cref="KvStateMachine"/>'s session part); a shard's data is bounded by the quota
/// its leader stamps on each command.
/// </remarks>
public sealed partial class KvStateMachine
{
    private readonly Dictionary<string, VersionedValue> _data = new(StringComparer.Ordinal);
    private readonly KvLimits _limits;

    public KvStateMachine(KvLimits? limits = null) => _limits = limits ?? KvLimits.Default;

    /// <summary>The index of the last applied entry.</summary>
    public ulong AppliedIndex { get; private set; }

    /// <summary>The log's time: the newest leader timestamp applied (milliseconds since the Unix epoch).</summary>
    public ulong ClockMs { get; private set; }

    /// <summary>The number of keys.</summary>
    public int Count => _data.Count;

    /// <summary>
    /// What the quota limits: bytes of keys (UTF-8) and values held, plus <see cref="KeyOverheadBytes"/>
    /// for each key (its version, lengths and bookkeeping), so that many tiny keys count too.
    /// </summary>
    public long DataBytes { get; private set; }

    /// <summary>The fixed cost charged per key, in <see cref="DataBytes"/>.</summary>
    public const int KeyOverheadBytes = 64;

    /// <summary>Applies the write committed at <paramref name="index"/>; returns its answer.</summary>
    /// <exception cref="InvalidOperationException">Indexes do not increase (a driver bug).</exception>
    public KvResponse Apply(ulong index, KvCommand command)
    {
        ArgumentNullException.ThrowIfNull(command);
        Advance(index);
        AdvanceClock(command.TimestampMs, command.IsFormat2 ? 0 : command.SessionTtlMs);
        ExpireSessions(command.SessionTtlMs);
        if (command.Kind == WriteKind.OpenSession)
        {
            return OpenSession(index, command.SessionTokenHash);
        }

        if (!_sessions.TryGetValue(command.SessionId, out var session))
        {
            return new KvResponse(KvStatus.SessionExpired, 0, null, $"session {command.SessionId} does not exist (expired, evicted or never opened)");
        }

        if (!session.IsOwnedBy(command.SessionTokenHash))
        {
            // Another client's session: refused before anything of it is used or changed (its
            // remembered answers, its activity, its horizon).
            return new KvResponse(KvStatus.SessionNotOwned, 0, null, $"session {command.SessionId} was opened with another token: the write is not its client's");
        }

        Touch(session);
        if (command.Sequence < session.CompletedBelow)
        {
            return new KvResponse(KvStatus.SessionExpired, 0, null, $"sequence {command.Sequence} is below the session's horizon {session.CompletedBelow}");
        }

        if (session.Results.TryGetValue(command.Sequence, out var earlier))
        {
            return earlier;
        }

        var result = Execute(index, command);
        Remember(session, command.Sequence, command.CompletedBelow, result);
        return result;
    }

    /// <summary>Records an entry that carries no command (a leader's empty entry, a membership change).</summary>
    public void ApplyNoop(ulong index) => Advance(index);

    /// <summary>The current value and version of <paramref name="key"/>; the value is the caller's own copy.</summary>
    /// <remarks>
    /// Orleans passes immutable answers by reference between grains of one silo, so handing out the
    /// stored array would let any caller there change this replica's state behind Raft's back.
    /// </remarks>
    public KvResponse Get(string key) =>
        _data.TryGetValue(key, out var current)
            ? new KvResponse(KvStatus.Ok, current.Version, current.Value.AsSpan().ToArray())
            : new KvResponse(KvStatus.NotFound, 0);

    private KvResponse Execute(ulong index, KvCommand command)
    {
        if (KeyRules.ValidateKey(command.Key) is { } keyError)
        {
            return new KvResponse(KvStatus.InvalidRequest, 0, null, keyError);
        }

        if (command.Value is { } value && KeyRules.ValidateValue(value) is { } valueError)
        {
            return new KvResponse(KvStatus.InvalidRequest, 0, null, valueError);
        }

        _data.TryGetValue(command.Key, out var current);
        var currentVersion = current?.Version ?? 0;
        switch (command.Kind)
        {
            case WriteKind.Put when command.Value is not null:
                return Store(index, command, current);
            case WriteKind.Delete:
                return current is null ? new KvResponse(KvStatus.NotFound, 0) : Remove(index, command.Key, current);
            case WriteKind.CompareAndSwap when currentVersion != command.ExpectedVersion:
                return new KvResponse(KvStatus.VersionMismatch, currentVersion);
            case WriteKind.CompareAndSwap when command.Value is null:
                return current is null ? new KvResponse(KvStatus.NotFound, 0) : Remove(index, command.Key, current);
            case WriteKind.CompareAndSwap:
                return Store(index, command, current);
            default:
                return new KvResponse(KvStatus.InvalidRequest, 0, null, "a put needs a value");
        }
    }

    private KvResponse Store(ulong index, KvCommand command, VersionedValue? current)
    {
        var keyBytes = Encoding.UTF8.GetByteCount(command.Key) + KeyOverheadBytes;
        var after = DataBytes - (current is null ? 0 : keyBytes + current.Value.Length) + keyBytes + command.Value!.Length;
        // A write that does not grow the shard is always allowed, so a full shard can be shrunk.
        if (command.QuotaBytes > 0 && after > (long)Math.Min(command.QuotaBytes, long.MaxValue) && after > DataBytes)
        {
            return new KvResponse(KvStatus.NoSpace, current?.Version ?? 0, null,
                $"the shard holds {DataBytes} bytes (keys, values and {KeyOverheadBytes} per key); this write would make it {after}, over its quota of {command.QuotaBytes}");
        }

        _data[command.Key] = new VersionedValue(command.Value, index);
        DataBytes = after;
        return new KvResponse(KvStatus.Ok, index);
    }

    private KvResponse Remove(ulong index, string key, VersionedValue current)
    {
        _data.Remove(key);
        DataBytes -= Encoding.UTF8.GetByteCount(key) + KeyOverheadBytes + current.Value.Length;
        return new KvResponse(KvStatus.Ok, index);
    }

    /// <summary>
    /// Moves the log's time to <paramref name="timestampMs"/>, never back, and by at most half the
    /// session ttl stamped with it: a leader stamping a time far ahead (a wall clock stepped, an
    /// old leader that stamped wall time) cannot expire at once the sessions that were active at
    /// the previous entry. Leaders stamp from a monotonic clock and never more than half a ttl
    /// ahead of the log (<see cref="LogClock"/>), so this bound does not bind for them; it is the
    /// state machine's own guard, the same on every replica. (Commands of format 2 pass no ttl
    /// here: they move the clock as they did when they were first applied.)
    /// </summary>
    private void AdvanceClock(ulong timestampMs, ulong sessionTtlMs)
    {
        if (timestampMs <= ClockMs)
        {
            return;
        }

        var step = timestampMs - ClockMs;
        if (sessionTtlMs > 0 && ClockMs > 0)
        {
            step = Math.Min(step, Math.Max(1, sessionTtlMs / 2));
        }

        ClockMs += step;
    }

    private void Advance(ulong index)
    {
        if (index <= AppliedIndex)
        {
            throw new InvalidOperationException($"Entry {index} applied after {AppliedIndex}.");
        }

        AppliedIndex = index;
    }

    private sealed record VersionedValue(byte[] Value, ulong Version);
}

/// <summary>
/// Bounds on what the state machine remembers about clients. Every replica must use the same
/// bounds (they decide evictions), so they are fixed in code rather than configured per silo.
/// </summary>
/// <param name="MaxSessions">Open sessions; the least recently active is evicted first beyond it.</param>
/// <param name="MaxSessionBytes">Bytes of session records (answers included); evicted the same way.</param>
/// <param name="MaxResultsPerSession">Unacknowledged answers remembered per session (its concurrency).</param>
public sealed record KvLimits(int MaxSessions, long MaxSessionBytes, int MaxResultsPerSession)
{
    public static readonly KvLimits Default = new(100_000, 64L << 20, 4096);
}

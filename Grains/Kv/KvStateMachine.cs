using ActorCluster.Grains.Interfaces.Kv;

namespace ActorCluster.Grains.Kv;

/// <summary>
/// The replicated key-value state: every replica applies the same committed commands in the same
/// order and so holds the same keys, values, versions and client sessions. Pure and deterministic.
/// </summary>
/// <remarks>
/// A key's version is the log index of its last write. Client sessions (thesis §6.3) remember the
/// answer to each write sequence a client may still retry, so a retry returns the first answer
/// instead of applying twice; a client's <c>CompletedBelow</c> lets old answers go.
/// </remarks>
public sealed partial class KvStateMachine
{
    private readonly Dictionary<string, VersionedValue> _data = new(StringComparer.Ordinal);
    private readonly Dictionary<ulong, ClientSession> _sessions = [];
    private readonly KvLimits _limits;

    public KvStateMachine(KvLimits? limits = null) => _limits = limits ?? KvLimits.Default;

    /// <summary>The index of the last applied entry.</summary>
    public ulong AppliedIndex { get; private set; }

    /// <summary>The number of keys.</summary>
    public int Count => _data.Count;

    /// <summary>The number of client sessions remembered.</summary>
    public int SessionCount => _sessions.Count;

    /// <summary>Applies the write committed at <paramref name="index"/>; returns its answer.</summary>
    /// <exception cref="InvalidOperationException">Indexes do not increase (a driver bug).</exception>
    public KvResponse Apply(ulong index, KvCommand command)
    {
        ArgumentNullException.ThrowIfNull(command);
        Advance(index);
        var session = SessionFor(command.ClientId, index);
        if (command.Sequence < session.CompletedBelow)
        {
            return new KvResponse(KvStatus.SessionExpired, 0, null, $"sequence {command.Sequence} is below the session's horizon {session.CompletedBelow}");
        }

        if (session.Results.TryGetValue(command.Sequence, out var earlier))
        {
            return earlier;
        }

        var result = Execute(index, command);
        session.Remember(command.Sequence, command.CompletedBelow, result, _limits.MaxResultsPerSession);
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
                _data[command.Key] = new VersionedValue(command.Value, index);
                return new KvResponse(KvStatus.Ok, index);
            case WriteKind.Delete:
                if (current is null)
                {
                    return new KvResponse(KvStatus.NotFound, 0);
                }

                _data.Remove(command.Key);
                return new KvResponse(KvStatus.Ok, index);
            case WriteKind.CompareAndSwap:
                if (currentVersion != command.ExpectedVersion)
                {
                    return new KvResponse(KvStatus.VersionMismatch, currentVersion);
                }

                if (command.Value is null)
                {
                    if (current is null)
                    {
                        return new KvResponse(KvStatus.NotFound, 0);
                    }

                    _data.Remove(command.Key);
                }
                else
                {
                    _data[command.Key] = new VersionedValue(command.Value, index);
                }

                return new KvResponse(KvStatus.Ok, index);
            default:
                return new KvResponse(KvStatus.InvalidRequest, 0, null, "a put needs a value");
        }
    }

    private void Advance(ulong index)
    {
        if (index <= AppliedIndex)
        {
            throw new InvalidOperationException($"Entry {index} applied after {AppliedIndex}.");
        }

        AppliedIndex = index;
    }

    private ClientSession SessionFor(ulong clientId, ulong index)
    {
        if (!_sessions.TryGetValue(clientId, out var session))
        {
            if (_sessions.Count >= _limits.MaxSessions)
            {
                EvictLeastRecentlyUsedSession();
            }

            session = new ClientSession();
            _sessions[clientId] = session;
        }

        session.LastIndex = index;
        return session;
    }

    private void EvictLeastRecentlyUsedSession()
    {
        // Deterministic: every replica evicts the same session (ties broken by client id).
        var victim = _sessions.MinBy(s => (s.Value.LastIndex, s.Key)).Key;
        _sessions.Remove(victim);
    }

    private sealed record VersionedValue(byte[] Value, ulong Version);

    private sealed class ClientSession
    {
        public SortedDictionary<ulong, KvResponse> Results { get; } = [];

        public ulong CompletedBelow { get; set; }

        public ulong LastIndex { get; set; }

        public void Remember(ulong sequence, ulong completedBelow, KvResponse result, int maxResults)
        {
            Results[sequence] = result;
            if (completedBelow > CompletedBelow)
            {
                CompletedBelow = completedBelow;
            }

            while (Results.Count > 0 && (Results.First().Key < CompletedBelow || Results.Count > maxResults))
            {
                // Dropping an answer moves the horizon, so a late retry is refused, not re-applied.
                var dropped = Results.First().Key;
                Results.Remove(dropped);
                CompletedBelow = Math.Max(CompletedBelow, dropped + 1);
            }
        }
    }
}

/// <summary>Bounds on what the state machine remembers about clients.</summary>
/// <param name="MaxSessions">Clients remembered; the least recently active is forgotten first.</param>
/// <param name="MaxResultsPerSession">Unacknowledged answers remembered per client (its concurrency).</param>
public sealed record KvLimits(int MaxSessions, int MaxResultsPerSession)
{
    public static readonly KvLimits Default = new(100_000, 4096);
}

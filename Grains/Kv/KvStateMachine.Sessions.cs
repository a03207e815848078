using System.Text;
using ActorCluster.Grains.Interfaces.Kv;

namespace ActorCluster.Grains.Kv;

/// <summary>
/// Client sessions (Raft thesis §6.3). A client opens a session with a command of its own; the
/// session's id is that command's log index, so an id is never handed out twice and a session
/// that is gone can never come back. A session is bound to the hash of a secret token its client
/// drew: a write whose token hash differs is refused untouched, so a session id, which anyone can
/// guess, is not enough to write in it. Each session remembers the answer to every write sequence
/// its client may still retry, so a retry gets the first answer instead of applying again.
/// Sessions expire by log time (leaders' timestamps in the commands) and are evicted, least
/// recently active first, beyond a count and a byte bound. A write whose session is gone is
/// answered <see cref="KvStatus.SessionExpired"/> and never applied.
/// </summary>
public sealed partial class KvStateMachine
{
    private const int SessionOverheadBytes = 64;
    private const int ResultOverheadBytes = 32;

    private readonly Dictionary<ulong, ClientSession> _sessions = [];

    // Sessions by (last activity in log time, id): the first is the next to expire or be evicted.
    private readonly SortedSet<(ulong LastActiveMs, ulong Id)> _sessionsByActivity = [];

    /// <summary>The number of open sessions.</summary>
    public int SessionCount => _sessions.Count;

    /// <summary>Bytes the session records take, by the accounting that bounds them.</summary>
    public long SessionBytes { get; private set; }

    /// <summary>Whether session <paramref name="id"/> is open.</summary>
    public bool HasSession(ulong id) => _sessions.ContainsKey(id);

    private KvResponse OpenSession(ulong index, byte[] tokenHash)
    {
        var session = new ClientSession(index, tokenHash) { LastActiveMs = ClockMs, Bytes = SessionOverheadBytes };
        _sessions[index] = session;
        _sessionsByActivity.Add((session.LastActiveMs, index));
        SessionBytes += session.Bytes;
        EvictBeyondBounds();
        return new KvResponse(KvStatus.Ok, index);
    }

    private void Touch(ClientSession session)
    {
        if (session.LastActiveMs == ClockMs)
        {
            return;
        }

        _sessionsByActivity.Remove((session.LastActiveMs, session.Id));
        session.LastActiveMs = ClockMs;
        _sessionsByActivity.Add((session.LastActiveMs, session.Id));
    }

    private void ExpireSessions(ulong ttlMs)
    {
        if (ttlMs == 0)
        {
            return;
        }

        while (_sessionsByActivity.Count > 0 && ClockMs - _sessionsByActivity.Min.LastActiveMs > ttlMs)
        {
            RemoveSession(_sessionsByActivity.Min.Id);
        }
    }

    private void EvictBeyondBounds()
    {
        // The session just used is the most recent, so it goes last; one is always kept.
        while (_sessions.Count > 1 && (_sessions.Count > _limits.MaxSessions || SessionBytes > _limits.MaxSessionBytes))
        {
            RemoveSession(_sessionsByActivity.Min.Id);
        }
    }

    private void RemoveSession(ulong id)
    {
        var session = _sessions[id];
        _sessions.Remove(id);
        _sessionsByActivity.Remove((session.LastActiveMs, id));
        SessionBytes -= session.Bytes;
    }

    private void Remember(ClientSession session, ulong sequence, ulong completedBelow, KvResponse result)
    {
        session.Results[sequence] = result;
        AddSessionBytes(session, ResultBytes(result));
        session.CompletedBelow = Math.Max(session.CompletedBelow, completedBelow);
        while (session.Results.Count > 0 && (session.Results.First().Key < session.CompletedBelow || session.Results.Count > _limits.MaxResultsPerSession))
        {
            // Dropping an answer moves the horizon, so a late retry is refused, not re-applied.
            var (dropped, answer) = session.Results.First();
            session.Results.Remove(dropped);
            AddSessionBytes(session, -ResultBytes(answer));
            session.CompletedBelow = Math.Max(session.CompletedBelow, dropped + 1);
        }

        EvictBeyondBounds();
    }

    private void AddSessionBytes(ClientSession session, long bytes)
    {
        session.Bytes += bytes;
        SessionBytes += bytes;
    }

    private static long ResultBytes(KvResponse result) =>
        ResultOverheadBytes + (result.Error is null ? 0 : Encoding.UTF8.GetByteCount(result.Error));

    private sealed class ClientSession(ulong id, byte[] tokenHash)
    {
        public ulong Id { get; } = id;

        /// <summary>The hash of the token the session was opened with (all zeros for a session from before tokens).</summary>
        public byte[] TokenHash { get; } = tokenHash;

        public bool IsOwnedBy(byte[] tokenHash) => System.Security.Cryptography.CryptographicOperations.FixedTimeEquals(TokenHash, tokenHash);

        public SortedDictionary<ulong, KvResponse> Results { get; } = [];

        public ulong CompletedBelow { get; set; }

        public ulong LastActiveMs { get; set; }

        public long Bytes { get; set; }
    }
}

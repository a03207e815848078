namespace ActorCluster.Grains.Interfaces.Kv;

/// <summary>The writes a shard accepts.</summary>
public enum WriteKind : byte
{
    /// <summary>Sets the value.</summary>
    Put = 1,

    /// <summary>Removes the key.</summary>
    Delete = 2,

    /// <summary>Sets (or, with no value, removes) the value only if the key's version is the expected one.</summary>
    CompareAndSwap = 3,

    /// <summary>
    /// Opens a client session on the shard (Raft thesis §6.3); no key. The answer's
    /// <see cref="KvResponse.Version"/> is the new session's id: the log index of this command,
    /// so an id is never given out twice.
    /// </summary>
    OpenSession = 4,
}

/// <summary>How a read may be served.</summary>
public enum ReadConsistency : byte
{
    /// <summary>
    /// The default: the leader confirms it still leads (ReadIndex) and serves the read once its
    /// state has applied everything committed before the read arrived. Never stale.
    /// </summary>
    Linearizable = 0,

    /// <summary>
    /// Served from whichever replica answers, from whatever it has applied: no round trip to a
    /// quorum, but the value may be older than a write that already succeeded, and two stale
    /// reads may go back in time. For dashboards and caches, not for decisions.
    /// </summary>
    Stale = 1,
}

/// <summary>The outcome of an operation on one key.</summary>
public enum KvStatus : byte
{
    /// <summary>Done. For reads: the key exists.</summary>
    Ok = 0,

    /// <summary>The key does not exist (get, delete).</summary>
    NotFound = 1,

    /// <summary>A compare-and-swap found another version; nothing changed.</summary>
    VersionMismatch = 2,

    /// <summary>The request was malformed (key or value out of limits); nothing changed.</summary>
    InvalidRequest = 3,

    /// <summary>No leader answered in time. For a write the outcome is unknown: it may still apply.</summary>
    Unavailable = 4,

    /// <summary>
    /// The write's session does not exist (it expired, was evicted, or never existed), or the
    /// write's sequence is older than what the session still remembers. Nothing was applied for
    /// this request now; an earlier attempt of it may have been, before the session went.
    /// </summary>
    SessionExpired = 5,

    /// <summary>The shard's data would grow past its storage quota; nothing changed. Deletes still work.</summary>
    NoSpace = 6,

    /// <summary>
    /// The write named a session another client opened: its session token is not the one the session
    /// was opened with. Nothing was applied, nothing remembered, and the session is untouched.
    /// </summary>
    SessionNotOwned = 7,
}

/// <summary>
/// A write as the client sends it. <see cref="SessionId"/> (from <see cref="WriteKind.OpenSession"/>
/// on this shard) and <see cref="Sequence"/> make a retried write apply at most once (Raft thesis
/// §6.3); <see cref="CompletedBelow"/> tells the shard that the client holds every answer below
/// that sequence, so their records can go. <see cref="SessionToken"/> is the secret the client drew
/// when it opened the session (<see cref="SessionTokens"/>): every write in the session carries it,
/// and a write whose token is not the session's is refused (<see cref="KvStatus.SessionNotOwned"/>),
/// so one client cannot write in another's session, nor be answered from its remembered results.
/// The shard keeps only the token's hash.
/// </summary>
[GenerateSerializer, Immutable, Alias("ac.WriteRequest")]
public sealed record WriteRequest(
    [property: Id(0)] WriteKind Kind,
    [property: Id(1)] string Key,
    [property: Id(2)] byte[]? Value,
    [property: Id(3)] ulong ExpectedVersion,
    [property: Id(4)] ulong SessionId,
    [property: Id(5)] ulong Sequence,
    [property: Id(6)] ulong CompletedBelow,
    [property: Id(7)] byte[]? SessionToken = null)
{
    /// <summary>The request that opens a session bound to <paramref name="token"/> (from <see cref="SessionTokens.Create"/>).</summary>
    public static WriteRequest OpenSession(byte[] token) => new(WriteKind.OpenSession, string.Empty, null, 0, 0, 0, 0, token);

    /// <summary>The token in a form safe for logs: never the token itself.</summary>
    public override string ToString() =>
        $"WriteRequest {{ Kind = {Kind}, Key = {Key}, Value = {Value?.Length.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "none"} bytes, ExpectedVersion = {ExpectedVersion}, SessionId = {SessionId}, Sequence = {Sequence}, CompletedBelow = {CompletedBelow} }}";
}

/// <summary>Session tokens: the secret that binds a session to the client that opened it.</summary>
public static class SessionTokens
{
    /// <summary>A token's length: 128 bits.</summary>
    public const int Bytes = 16;

    /// <summary>A new token from a cryptographic random source.</summary>
    public static byte[] Create() => System.Security.Cryptography.RandomNumberGenerator.GetBytes(Bytes);
}

/// <summary>
/// The answer to an operation. <see cref="Version"/> is the key's version — the log index of its
/// last write, like etcd's mod_revision — after a successful write, of the value read, or (on a
/// version mismatch) the current one; 0 means the key does not exist.
/// </summary>
[GenerateSerializer, Immutable, Alias("ac.KvResponse")]
public sealed record KvResponse(
    [property: Id(0)] KvStatus Status,
    [property: Id(1)] ulong Version,
    [property: Id(2)] byte[]? Value = null,
    [property: Id(3)] string? Error = null)
{
    /// <summary>Shorthand for an unavailable answer with its reason.</summary>
    public static KvResponse Unavailable(string reason) => new(KvStatus.Unavailable, 0, null, reason);
}

/// <summary>
/// One operation of a batch (<see cref="IShardGrain.Execute"/>): a write when <see cref="Write"/>
/// is set, else a read of <see cref="ReadKey"/> with <see cref="Consistency"/>. A batch carries
/// concurrent operations of one client process for one shard in one call; each is answered on its
/// own, exactly as if it had been sent alone.
/// </summary>
[GenerateSerializer, Immutable, Alias("ac.KvOperation")]
public sealed record KvOperation(
    [property: Id(0)] WriteRequest? Write,
    [property: Id(1)] string? ReadKey = null,
    [property: Id(2)] ReadConsistency Consistency = ReadConsistency.Linearizable)
{
    /// <summary>A write.</summary>
    public static KvOperation Of(WriteRequest write) => new(write);

    /// <summary>A read.</summary>
    public static KvOperation OfRead(string key, ReadConsistency consistency) => new(null, key, consistency);

    /// <summary>Roughly what the operation weighs on the wire: its key and value.</summary>
    public int Bytes => (Write?.Key.Length ?? ReadKey?.Length ?? 0) + (Write?.Value?.Length ?? 0) + 32;
}

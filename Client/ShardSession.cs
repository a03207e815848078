namespace ActorCluster.Client;

/// <summary>
/// This client's session on one shard: the session id the shard gave out, the secret token the
/// session was opened with (every write in it carries the token; the shard keeps only its hash),
/// the next sequence number, and the sequences still waiting for an answer (the lowest one is the
/// horizon below which the shard may forget answers).
/// </summary>
internal sealed class ShardSession(ulong id, byte[] token)
{
    private readonly SortedSet<ulong> _inFlight = [];
    private readonly Lock _lock = new();
    private ulong _nextSequence;

    public ulong Id { get; } = id;

    public byte[] Token { get; } = token;

    public (ulong Sequence, ulong CompletedBelow) Begin()
    {
        lock (_lock)
        {
            var sequence = ++_nextSequence;
            _inFlight.Add(sequence);
            return (sequence, _inFlight.Min);
        }
    }

    public void End(ulong sequence)
    {
        lock (_lock)
        {
            _inFlight.Remove(sequence);
        }
    }
}

namespace ActorCluster.Grains.Raft;

/// <summary>Settings of one Raft node. Validated by <see cref="Validate"/> when a node is created.</summary>
public sealed class RaftOptions
{
    /// <summary>This node's id; never <see cref="RaftNode.None"/>.</summary>
    public ulong Id { get; init; }

    /// <summary>
    /// Ticks a follower waits without hearing from a leader before it campaigns. The actual timeout
    /// is drawn from [ElectionTicks, 2 * ElectionTicks) on every reset.
    /// </summary>
    public int ElectionTicks { get; init; } = 10;

    /// <summary>Ticks between a leader's heartbeats. Must be smaller than <see cref="ElectionTicks"/>.</summary>
    public int HeartbeatTicks { get; init; } = 1;

    /// <summary>Run a pre-vote round before a real election (thesis §9.6).</summary>
    public bool PreVote { get; init; } = true;

    /// <summary>
    /// A leader steps down when it has not heard from a quorum within an election timeout, and
    /// followers that heard from a leader recently ignore vote requests (leader stickiness).
    /// </summary>
    public bool CheckQuorum { get; init; } = true;

    /// <summary>Most append messages in flight to one follower in the replicate state.</summary>
    public int MaxInflightMessages { get; init; } = 256;

    /// <summary>Most entries in one append message.</summary>
    public int MaxEntriesPerMessage { get; init; } = 1024;

    /// <summary>Most payload bytes in one append message (one entry is always allowed).</summary>
    public int MaxMessageBytes { get; init; } = 1 << 20;

    /// <summary>
    /// Most payload bytes of append messages in flight to one follower in the replicate state
    /// (with <see cref="MaxInflightMessages"/>, whichever is reached first; one message always goes).
    /// </summary>
    public long MaxInflightBytes { get; init; } = 32L << 20;

    /// <summary>
    /// Send followers a message as soon as the commit index advances (etcd's behaviour). When
    /// false they learn it from the next append or heartbeat instead: a little later, but with
    /// two fewer messages per commit when proposals arrive one at a time. Only followers' applied
    /// state lags; nothing the leader answers depends on it.
    /// </summary>
    public bool BroadcastCommit { get; init; } = true;

    /// <summary>
    /// Most entries a leader holds uncommitted; proposals beyond it are refused with
    /// <see cref="ProposeStatus.Overloaded"/> so a slow quorum pushes back on clients instead of
    /// growing the log without bound.
    /// </summary>
    public int MaxUncommittedEntries { get; init; } = 16_384;

    /// <summary>
    /// Most payload bytes a leader holds uncommitted, like <see cref="MaxUncommittedEntries"/> (a
    /// proposal is always accepted when nothing is uncommitted, however large).
    /// </summary>
    public long MaxUncommittedBytes { get; init; } = 64L << 20;

    /// <summary>
    /// How long a leader's lease lasts after the heartbeat a quorum acknowledged was sent, in
    /// <see cref="Clock"/> units; 0 turns leases off (reads then always take a ReadIndex round).
    /// The driver must keep it below the followers' shortest leader stickiness — an election
    /// timeout less the jitter of its ticks — divided by the largest ratio of two nodes' clock
    /// rates. Needs <see cref="CheckQuorum"/>.
    /// </summary>
    public long LeaseDuration { get; init; }

    /// <summary>
    /// A monotonic clock for leases, positive and never going back; read only when
    /// <see cref="LeaseDuration"/> is set. The core keeps no other notion of time.
    /// </summary>
    public Func<long>? Clock { get; init; }

    /// <summary>
    /// An idle group quiesces: its leader stops heartbeating and every node stops ticking until
    /// there is work again (RaftNode.Quiesce.cs). The driver must then wake followers whose leader
    /// may be gone (<see cref="RaftNode.Unquiesce"/>), since they no longer time out by themselves.
    /// </summary>
    public bool Quiesce { get; init; }

    /// <summary>Randomness for election jitter; seed it for reproducible runs.</summary>
    public IRaftRandom Random { get; init; } = new SeededRandom(0x5EED);

    /// <summary>Deliberate defects, settable only by tests, to prove that the tests catch them.</summary>
    internal RaftTestingKnobs Knobs { get; init; } = RaftTestingKnobs.None;

    /// <summary>Throws <see cref="ArgumentException"/> naming the first invalid setting.</summary>
    public void Validate()
    {
        if (Id == RaftNode.None)
        {
            throw new ArgumentException("RaftOptions.Id must be non-zero.");
        }

        if (HeartbeatTicks < 1)
        {
            throw new ArgumentException($"RaftOptions.HeartbeatTicks must be at least 1 (was {HeartbeatTicks}).");
        }

        if (ElectionTicks <= HeartbeatTicks)
        {
            throw new ArgumentException($"RaftOptions.ElectionTicks ({ElectionTicks}) must be greater than HeartbeatTicks ({HeartbeatTicks}).");
        }

        if (MaxInflightMessages < 1 || MaxEntriesPerMessage < 1 || MaxMessageBytes < 1 || MaxUncommittedEntries < 1 || MaxInflightBytes < 1 || MaxUncommittedBytes < 1)
        {
            throw new ArgumentException("RaftOptions.MaxInflightMessages, MaxInflightBytes, MaxEntriesPerMessage, MaxMessageBytes, MaxUncommittedEntries and MaxUncommittedBytes must be at least 1.");
        }

        if (LeaseDuration < 0 || (LeaseDuration > 0 && (Clock is null || !CheckQuorum)))
        {
            throw new ArgumentException($"RaftOptions.LeaseDuration ({LeaseDuration}) must be 0, or positive with a Clock and CheckQuorum.");
        }

        ArgumentNullException.ThrowIfNull(Random, nameof(Random));
    }
}

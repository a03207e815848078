using System.Diagnostics;

namespace ActorCluster.Grains.Raft;

/// <summary>
/// One Raft node as a synchronous, deterministic state machine (in the style of etcd-io/raft's
/// RawNode). It does no I/O and keeps no clock: the driver calls <see cref="Tick"/> for time,
/// <see cref="Step"/> for each received message, the proposal methods for client work, and then
/// handles each <see cref="Ready"/> (persist, send, apply) and calls <see cref="Advance"/>.
/// </summary>
/// <remarks>Not thread-safe: one caller at a time.</remarks>
public sealed partial class RaftNode
{
    /// <summary>The id that means "no node".</summary>
    public const ulong None = 0;

    private readonly RaftOptions _options;
    private readonly ulong _id;
    private readonly RaftLog _log;
    private readonly Dictionary<ulong, Progress> _progress = [];
    private readonly Dictionary<ulong, bool> _votes = [];
    private readonly List<ReadState> _readStates = [];
    private List<Message> _outbox = [];

    private ulong _term;
    private ulong _vote;
    private ulong _lead;
    private RaftRole _role;

    private int _electionElapsed;
    private int _heartbeatElapsed;
    private int _randomizedElectionTimeout;
    private ulong _leadTransferee;
    private bool _campaignIsTransfer;

    // Leader: payload bytes of the entries after the commit index (its own proposals' backlog).
    private long _uncommittedBytes;

    // Leader: appends or a commit notice are waiting to be sent; sent when a ready is made, so
    // proposals between two readies travel in one message per follower.
    private bool _replicationPending;

    private HardState _lastHardState;
    private SoftState _lastSoftState;
    private Ready? _readyInFlight;

    private RaftNode(RaftOptions options, RaftLog log, HardState hardState)
    {
        options.Validate();
        _options = options;
        _id = options.Id;
        _log = log;
        _term = hardState.Term;
        _vote = hardState.Vote;
        _lastHardState = hardState;
        _lastSoftState = new SoftState(None, RaftRole.Follower);
        BecomeFollower(_term, None);
    }

    /// <summary>
    /// Creates a founding member of a new group whose initial configuration is
    /// <paramref name="initialConfig"/>. The first ready carries that configuration as a snapshot
    /// at index 0 for the driver to persist.
    /// </summary>
    public static RaftNode Bootstrap(RaftOptions options, ClusterConfig initialConfig)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(initialConfig);
        if (initialConfig.Voters.Count == 0)
        {
            throw new ArgumentException("The initial configuration needs at least one voter.", nameof(initialConfig));
        }

        var log = new RaftLog(new SnapshotMetadata(0, 0, ClusterConfig.Empty), null, [], 0, 0);
        log.Restore(new Snapshot(new SnapshotMetadata(0, 0, initialConfig), []));
        return new RaftNode(options, log, default);
    }

    /// <summary>
    /// Creates a node from what it persisted (a restart), or from <see cref="RaftStorageState.Empty"/>
    /// (a new member that learns the log and configuration from the leader).
    /// </summary>
    public static RaftNode Start(RaftOptions options, RaftStorageState storage)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(storage);
        var offset = storage.Snapshot?.Metadata ?? new SnapshotMetadata(0, 0, ClusterConfig.Empty);
        var log = new RaftLog(offset, storage.Snapshot, storage.Entries, Math.Max(storage.HardState.Commit, offset.Index), storage.Applied);
        return new RaftNode(options, log, storage.HardState);
    }

    /// <summary>This node's id.</summary>
    public ulong Id => _id;

    /// <summary>This node's role.</summary>
    public RaftRole Role => _role;

    /// <summary>The current term.</summary>
    public ulong Term => _term;

    /// <summary>The known leader of the current term, or <see cref="None"/>.</summary>
    public ulong Leader => _lead;

    /// <summary>True while this node leads because the previous leader handed over (TimeoutNow), not by an election timeout.</summary>
    public bool LeadsByTransfer { get; private set; }

    /// <summary>The configuration in force (the newest in the log, committed or not).</summary>
    public ClusterConfig Config => _log.Config;

    /// <summary>The log index of the configuration in effect (the newest configuration entry, or the snapshot's).</summary>
    public ulong ConfigIndex => _log.ConfigIndex;

    /// <summary>
    /// The newest configuration that is committed, and the index of the entry that set it (or of
    /// the snapshot that holds it). Unlike <see cref="Config"/>, it can never be undone: this is the
    /// one to tell anyone outside the group, who keeps whichever has the highest index.
    /// </summary>
    public (ClusterConfig Config, ulong Index) CommittedConfig => _log.ConfigEntryAt(_log.Committed);

    /// <summary>The highest committed index this node knows.</summary>
    public ulong CommitIndex => _log.Committed;

    /// <summary>The highest index the application has applied.</summary>
    public ulong AppliedIndex => _log.Applied;

    /// <summary>The index of the last entry in the log.</summary>
    public ulong LastIndex => _log.LastIndex;

    /// <summary>The newest snapshot this node holds (made here, or received from a leader).</summary>
    public Snapshot? LatestSnapshot => _log.LatestSnapshot;

    /// <summary>The first index still in the log (entries before it were compacted).</summary>
    public ulong FirstIndex => _log.FirstIndex;

    /// <summary>Payload bytes of the entries in [<paramref name="from"/>, <paramref name="to"/>] still in the log.</summary>
    public long LogBytes(ulong from, ulong to) => _log.BytesBetween(from, to);

    /// <summary>How many times this node stepped down as leader because a quorum of voters stopped answering (check-quorum).</summary>
    public long QuorumLosses { get; private set; }

    /// <summary>
    /// On a leader, how many entries of its log the slowest voter has yet to store (its last index
    /// less the lowest match index among the other voters); 0 elsewhere.
    /// </summary>
    public ulong VoterLag()
    {
        if (_role != RaftRole.Leader)
        {
            return 0;
        }

        var lowest = _log.LastIndex;
        foreach (var voter in _log.Config.Voters)
        {
            if (voter != _id)
            {
                lowest = Math.Min(lowest, _progress.TryGetValue(voter, out var pr) ? pr.Match : 0);
            }
        }

        return _log.LastIndex - lowest;
    }

    /// <summary>
    /// The highest index to compact through that keeps, below <paramref name="applied"/>, at most
    /// <paramref name="retainEntries"/> entries and <paramref name="retainBytes"/> bytes (a tail for
    /// followers that lag a little, so they need no snapshot). Never past the newest snapshot.
    /// </summary>
    public ulong CompactionPoint(ulong applied, int retainEntries, long retainBytes)
    {
        var limit = Math.Min(applied, _log.LatestSnapshot?.Index ?? 0);
        var keepFrom = limit + 1;
        long kept = 0;
        while (keepFrom > _log.FirstIndex && limit + 1 - keepFrom < (ulong)retainEntries)
        {
            var size = _log.BytesBetween(keepFrom - 1, keepFrom - 1);
            if (kept + size > retainBytes)
            {
                break;
            }

            kept += size;
            keepFrom--;
        }

        return keepFrom - 1;
    }

    /// <summary>The term of the entry at <paramref name="index"/>; false if compacted or absent.</summary>
    public bool TryGetTerm(ulong index, out ulong term) => _log.TryTerm(index, out term);

    /// <summary>The configuration in force at <paramref name="index"/> (not before the first index - 1).</summary>
    public ClusterConfig ConfigAt(ulong index) => _log.ConfigAt(index);

    private HardState CurrentHardState => new(_term, _vote, _log.Committed);

    private SoftState CurrentSoftState => new(_lead, _role);

    private bool Promotable => _log.Config.IsVoter(_id);

    /// <summary>Advances logical time by one tick: election timeouts, heartbeats, check-quorum.</summary>
    public void Tick()
    {
        CountStartupTick();
        if (_quiesced)
        {
            return;
        }
        if (_role == RaftRole.Leader)
        {
            TickLeader();
        }
        else
        {
            TickElection();
        }
    }

    /// <summary>Proposes one command. See <see cref="ProposeResult"/> for how to learn its fate.</summary>
    public ProposeResult Propose(byte[] command)
    {
        ArgumentNullException.ThrowIfNull(command);
        return ProposeBatch([command]);
    }

    /// <summary>Proposes commands as consecutive entries, all or none.</summary>
    public ProposeResult ProposeBatch(IReadOnlyList<byte[]> commands)
    {
        ArgumentNullException.ThrowIfNull(commands);
        if (commands.Count == 0)
        {
            throw new ArgumentException("A batch needs at least one command.", nameof(commands));
        }

        var refusal = CheckCanPropose();
        if (refusal is { } status)
        {
            return ProposeResult.Rejected(status, _term, _role == RaftRole.Leader ? None : _lead);
        }

        Unquiesce();
        var uncommitted = _log.LastIndex - _log.Committed;
        long bytes = 0;
        foreach (var command in commands)
        {
            bytes += command?.Length ?? 0;
        }

        if (uncommitted > 0 && (uncommitted + (ulong)commands.Count > (ulong)_options.MaxUncommittedEntries || _uncommittedBytes + bytes > _options.MaxUncommittedBytes))
        {
            return ProposeResult.Rejected(ProposeStatus.Overloaded, _term, _id);
        }

        var first = _log.LastIndex + 1;
        var entries = new Entry[commands.Count];
        for (var i = 0; i < entries.Length; i++)
        {
            entries[i] = new Entry(first + (ulong)i, _term, EntryType.Normal, commands[i] ?? throw new ArgumentException("A command is null.", nameof(commands)));
        }

        AppendAsLeader(entries);
        return new ProposeResult(ProposeStatus.Accepted, _term, first, _log.LastIndex, _id);
    }

    /// <summary>
    /// Whether this node has output for the driver. Prepares pending replication, so call it (or
    /// <see cref="GetReady"/>) after a batch of inputs, not between each.
    /// </summary>
    public bool HasReady()
    {
        if (_readyInFlight is not null)
        {
            return false;
        }

        FlushReplication();
        return _outbox.Count > 0
            || _log.HasUnstableEntries
            || _log.UnstableSnapshot is not null
            || _log.HasCommittedToApply
            || _readStates.Count > 0
            || CurrentHardState != _lastHardState
            || CurrentSoftState != _lastSoftState;
    }

    /// <summary>Hands out the pending output. Only one ready may be outstanding at a time.</summary>
    /// <exception cref="InvalidOperationException">The previous ready was not advanced.</exception>
    public Ready GetReady()
    {
        if (_readyInFlight is not null)
        {
            throw new InvalidOperationException("The previous ready has not been advanced.");
        }

        FlushReplication();
        var hardState = CurrentHardState;
        var softState = CurrentSoftState;
        var ready = new Ready
        {
            Snapshot = _log.TakeUnstableSnapshot(),
            Entries = _log.TakeUnstableEntries(),
            CommittedEntries = _log.TakeCommittedEntries(),
            Messages = _outbox,
            ReadStates = _readStates.Count == 0 ? [] : [.. _readStates],
            HardState = hardState == _lastHardState ? null : hardState,
            SoftState = softState == _lastSoftState ? null : softState,
        };
        _outbox = [];
        _readStates.Clear();
        _lastHardState = hardState;
        _lastSoftState = softState;
        _readyInFlight = ready;
        return ready;
    }

    /// <summary>Tells the node that <paramref name="ready"/> was persisted, sent and applied.</summary>
    public void Advance(Ready ready)
    {
        if (!ReferenceEquals(ready, _readyInFlight))
        {
            throw new InvalidOperationException("Advance must be given the ready that is in flight.");
        }

        _readyInFlight = null;
        _log.Advance(ready.Snapshot, ready.CommittedEntries);
        if (_role == RaftRole.Leader)
        {
            // The leader counts its own log toward a quorum only once it is durable.
            MaybeCommit();
        }

        AssertInvariants();
    }

    /// <summary>
    /// Records a snapshot the application made of its state at <paramref name="index"/> (at or
    /// below the applied index). Followers too far behind are sent the newest snapshot.
    /// </summary>
    /// <returns>False if a snapshot at or after <paramref name="index"/> already exists.</returns>
    public bool CreateSnapshot(ulong index, byte[] data)
    {
        ArgumentNullException.ThrowIfNull(data);
        if (index > _log.Applied)
        {
            throw new ArgumentOutOfRangeException(nameof(index), index, $"Cannot snapshot past the applied index {_log.Applied}.");
        }

        if (index <= (_log.LatestSnapshot?.Index ?? 0) || index < _log.OffsetIndex)
        {
            return false;
        }

        var metadata = new SnapshotMetadata(index, _log.TermOrZero(index), _log.ConfigAt(index));
        _log.SetLatestSnapshot(new Snapshot(metadata, data));
        return true;
    }

    /// <summary>
    /// Drops log entries up to <paramref name="index"/>, which must be covered by the newest
    /// snapshot. The driver deletes the same range from storage.
    /// </summary>
    public void Compact(ulong index)
    {
        var snapshotIndex = _log.LatestSnapshot?.Index ?? 0;
        if (index > snapshotIndex || index > _log.Applied)
        {
            throw new ArgumentOutOfRangeException(nameof(index), index, $"Cannot compact past the snapshot ({snapshotIndex}) or the applied index ({_log.Applied}).");
        }

        _log.CompactTo(index);
    }

    /// <summary>A picture of this node's state.</summary>
    public RaftStatus GetStatus()
    {
        var progress = new Dictionary<ulong, PeerProgress>();
        if (_role == RaftRole.Leader)
        {
            foreach (var (id, pr) in _progress)
            {
                progress[id] = new PeerProgress(pr.Match, pr.Next, pr.State, pr.IsLearner, pr.RecentActive);
            }
        }

        return new RaftStatus(
            _id, _role, _term, _vote, _lead, _log.Committed, _log.Applied, _log.FirstIndex, _log.LastIndex,
            _log.LatestSnapshot?.Index ?? 0, _log.Config, _leadTransferee, progress);
    }

    private ProposeStatus? CheckCanPropose()
    {
        if (_role != RaftRole.Leader || !_log.Config.IsVoter(_id))
        {
            return ProposeStatus.NotLeader;
        }

        return _leadTransferee != None ? ProposeStatus.TransferInProgress : null;
    }

    private void AppendAsLeader(ReadOnlySpan<Entry> entries)
    {
        var config = _log.Config;
        _uncommittedBytes += RaftLog.SizeOf(entries);
        _log.Append(entries);
        if (!ReferenceEquals(config, _log.Config))
        {
            SyncProgressWithConfig();
        }

        _replicationPending = true;
    }

    private void Send(Message message) => _outbox.Add(message);

    private void ResetRandomizedElectionTimeout() =>
        _randomizedElectionTimeout = _options.ElectionTicks + _options.Random.Next(_options.ElectionTicks);

    [Conditional("DEBUG")]
    private void AssertInvariants()
    {
        Debug.Assert(_log.Applied <= _log.Committed, "applied <= committed");
        Debug.Assert(_log.Committed <= _log.LastIndex, "committed <= last index");
        Debug.Assert(_role != RaftRole.Leader || _lead == _id, "a leader leads itself");
        Debug.Assert(_role != RaftRole.Candidate || _vote == _id, "a candidate votes for itself");
    }
}

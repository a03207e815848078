using ActorCluster.Grains.Hosting;
using ActorCluster.Grains.Interfaces;
using ActorCluster.Grains.Interfaces.Kv;
using ActorCluster.Grains.Kv;
using ActorCluster.Grains.Placement;
using ActorCluster.Grains.Raft;
using ActorCluster.Grains.Storage;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Concurrency;
using Orleans.GrainDirectory;

namespace ActorCluster.Grains.Replicas;

/// <summary>
/// Drives one Raft core inside a grain: a timer ticks it, peers' one-way calls step it, client
/// calls propose and read through it, and a single ready loop persists, sends, applies and
/// advances. The grain is reentrant so that proposals and messages keep arriving while a ready
/// is being written; the core is built for exactly that (one ready in flight, inputs any time).
/// </summary>
[Reentrant]
[StorePlacement]
[GrainDirectory(StoreGrainDirectory.Name)]
public sealed partial class RaftReplicaGrain(
    IReplicaStore store,
    IOptions<ReplicaOptions> replicaOptions,
    RingGate ringGate,
    IOptions<KeyValueOptions> keyValueOptions,
    IOptions<RingOptions> ringOptions,
    IOptions<TelemetryOptions> telemetryOptions,
    ReplicaGauges gauges,
    StoreDirectory stores,
    LocalStore localStore,
    LocalReplicas localReplicas,
    ILocalSiloDetails localSilo,
    ILogger<RaftReplicaGrain> logger) : Grain, IRaftReplicaGrain
{
    private readonly ReplicaOptions _options = replicaOptions.Value;
    private readonly KeyValueOptions _keyValue = keyValueOptions.Value;
    private readonly KvStateMachine _kv = new();
    private readonly LogClock _logClock = new(System.Diagnostics.Stopwatch.Frequency);
    private static readonly TimeSpan PendingWaitLimit = TimeSpan.FromSeconds(5);
    private readonly Dictionary<ulong, PendingWrite> _pendingWrites = [];
    private int _replicationFactor;
    private int _shardCount;
    private string _key = string.Empty;
    private string? _siloEndpoint;
    private int _shard;
    private ulong _id;
    private ulong _store;
    private bool _markInitialized;
    private readonly Dictionary<ulong, ulong> _learnedStores = [];
    private ShardMembers? _members;
    private ClusterConfig? _membersOf;
    private ReplicaClaim? _claim;
    private HardState _persistedHardState;
    private ulong _persistedLastIndex;
    private RaftNode? _raft;
    private IGrainTimer? _timer;
    private string? _storeHex;
    private bool _slowTimer;
    private KeyValuePair<string, object?>[] _metricTags = [];
    private ReplicaGauge? _gauge;

    // When a message from the current leader last arrived (Stopwatch timestamp); from activation at first.
    private long _lastLeaderContact = System.Diagnostics.Stopwatch.GetTimestamp();
    private DateTime _leaderSince;
    private (ulong Leader, ulong Term) _knownLeader;
    private bool _pumping;

    // Set while a batch is being taken in: proposals and reads wait for the whole batch before the
    // pump or a read round starts.
    private bool _batching;
    private long _appliedBytesSinceSnapshot;
    private Task? _snapshotSave;
    private string? _stoppedReason;

    private RaftNode Raft => _raft ?? throw new InvalidOperationException("The replica is not started.");

    private bool IsLeader => _raft is { Role: RaftRole.Leader } && _stoppedReason is null;

    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        var key = _key = this.GetPrimaryKeyString();
        _siloEndpoint = $"{localSilo.SiloAddress.Endpoint.Address}:{localSilo.SiloAddress.Endpoint.Port}";
        if (localReplicas.Stopping)
        {
            // A message for a replica that left with another silo: stay inert until this silo is gone.
            _stoppedReason = "the silo is stopping";
            return;
        }

        // Nothing loads before this silo has checked its ring against the cluster's record.
        var ring = await ringGate.Verified.WaitAsync(cancellationToken);
        _replicationFactor = ring.ReplicationFactor;
        _shardCount = ring.Shards;
        if (!ReplicaId.TryParse(key, out _shard, out _id, out _store) || _shard >= ring.Shards)
        {
            // A phantom shard would otherwise be created and persisted as a new Raft group.
            throw new ArgumentException($"'{key}' is not a replica of this ring ({ring.Shards} shards).");
        }

        if (localStore.Identity?.StoreId != _store)
        {
            // Placement puts a replica only on its store's silo; anything else is a bug, never a copy.
            throw new InvalidOperationException($"Replica {key} belongs to store {StoreIdentity.Hex(_store)}, not to this silo's store.");
        }

        await StartAsync(cancellationToken);
    }

    /// <summary>
    /// Loads this replica from its store. A replica the store never created, or that was removed,
    /// stays silent; so does one whose state was stored once and is gone now (its disk lost it):
    /// it must never vote or acknowledge, or a lagging replica could win an election with its help
    /// and lose acknowledged writes. The leader finds it (its status says so) and replaces it.
    /// </summary>
    private async Task StartAsync(CancellationToken cancellationToken)
    {
        var key = _key;
        var presence = await store.FindReplicaAsync(key, cancellationToken);
        if (presence is ReplicaPresence.Missing or ReplicaPresence.Tombstoned)
        {
            _stoppedReason = presence == ReplicaPresence.Missing ? MissingReason : RemovedReason;
            localReplicas.Add(key);
            return;
        }

        // Claiming first fences off any older activation of this replica still running.
        _claim = await store.ClaimAsync(key, cancellationToken);
        var stored = await store.LoadAsync(_claim, cancellationToken);
        var isEmpty = stored.Snapshot is null && stored.Entries.Count == 0 && stored.HardState == default;
        if (isEmpty && presence == ReplicaPresence.Initialized)
        {
            _stoppedReason = LostReason;
            LogLost(key);
            localReplicas.Add(key);
            return;
        }

        _markInitialized = presence == ReplicaPresence.Created;
        var raftOptions = new RaftOptions
        {
            Id = _id,
            ElectionTicks = _options.ElectionTicks,
            HeartbeatTicks = _options.HeartbeatTicks,
            PreVote = true,
            CheckQuorum = true,
            // Followers learn the commit index from the next append or heartbeat: two fewer
            // messages per write when writes arrive one at a time.
            BroadcastCommit = false,
            MaxUncommittedEntries = _options.MaxUncommittedEntries,
            MaxUncommittedBytes = _options.MaxUncommittedBytes,
            MaxEntriesPerMessage = _options.MaxEntriesPerMessage,
            MaxMessageBytes = _options.MaxAppendBytes,
            MaxInflightMessages = _options.MaxInflightMessages,
            MaxInflightBytes = _options.MaxInflightBytes,
            Random = new SeededRandom((ulong)Random.Shared.NextInt64()),
            // Leases run on the monotonic clock, which keeps counting while the process is paused:
            // a leader that was stopped finds its lease expired when it resumes.
            LeaseDuration = _options.LeaseStopwatchTicks,
            Clock = _options.LeaseReads ? System.Diagnostics.Stopwatch.GetTimestamp : null,
            Quiesce = _options.Quiesce,
        };
        _storeHex = StoreIdentity.Hex(_store);
        _persistedHardState = stored.HardState;
        _persistedLastIndex = (stored.Snapshot?.Index ?? 0) + (ulong)stored.Entries.Count;
        if (stored.Snapshot is { } snapshot)
        {
            _kv.Restore(snapshot.Data);
        }

        _raft = RaftNode.Start(raftOptions, stored);
        _stoppedReason = null;
        var tagged = telemetryOptions.Value.TagsShards(_shardCount);
        _metricTags = ReplicaMetrics.ShardTags(_shard, tagged);
        // Counters exist from the start, at zero: an alert on their increase sees the first event.
        ReplicaMetrics.LeaderChanges.Add(0, _metricTags);
        ReplicaMetrics.QuorumLost.Add(0, _metricTags);
        ReplicaMetrics.SnapshotsSent.Add(0, _metricTags);
        _gauge?.Dispose();
        _gauge = gauges.Track(_shard, tagged);
        LogActivated(key, _claim.Epoch, stored.HardState.Term, stored.HardState.Commit, stored.Snapshot?.Index ?? 0, stored.Entries.Count);
        localReplicas.Add(key);
        _timer = this.RegisterGrainTimer(OnTickAsync, new GrainTimerCreationOptions(_options.Tick, _options.Tick) { Interleave = true, KeepAlive = true });
        SchedulePump();
    }

    private const string MissingReason = "missing: this store never held it";
    private const string RemovedReason = "removed from its group";
    private const string LostReason = "lost: its state is gone from this store";

    public async Task<bool> Create()
    {
        if (_raft is not null)
        {
            return true;
        }

        if (_stoppedReason != MissingReason)
        {
            return _stoppedReason is not RemovedReason and not LostReason;
        }

        if (!await store.CreateReplicaAsync(_key, founders: null))
        {
            return false;
        }

        _stoppedReason = null;
        await StartAsync(CancellationToken.None);
        return _raft is not null;
    }

    public override async Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken)
    {
        localReplicas.Remove(_key);
        try
        {
            if (_stoppedReason is null)
            {
                // Hand leadership over before going, so the shard does not wait out an election timeout.
                await HandOverLeadershipAsync(TimeSpan.FromMilliseconds(500), cancellationToken);
            }
        }
        finally
        {
            // Even when the hand-over is cut short: waiters are failed, the timer and gauges go.
            Stop($"deactivated ({reason.ReasonCode})");
        }
    }

    public async Task PrepareToStop(bool handOver)
    {
        if (_stoppedReason is null)
        {
            if (handOver)
            {
                await HandOverLeadershipAsync(TimeSpan.FromSeconds(2), CancellationToken.None);
            }

            Stop("the silo is stopping");
        }
    }

    /// <summary>
    /// If this replica leads, transfers leadership to its most up-to-date voter and waits until it
    /// no longer leads (other calls, the successor's vote request among them, interleave meanwhile).
    /// </summary>
    private async Task HandOverLeadershipAsync(TimeSpan budget, CancellationToken cancellationToken)
    {
        if (!IsLeader)
        {
            return;
        }

        var successor = Raft.GetStatus().Progress
            .Where(p => !p.Value.IsLearner)
            .OrderByDescending(p => p.Value.RecentActive)
            .ThenByDescending(p => p.Value.Match)
            .Select(p => p.Key)
            .FirstOrDefault();
        if (successor == RaftNode.None || Raft.TransferLeadership(successor) != ProposeStatus.Accepted)
        {
            return;
        }

        ReplicaMetrics.LeadershipTransfers.Add(1, new KeyValuePair<string, object?>("reason", "stop"));
        SchedulePump();
        var deadline = DateTime.UtcNow + budget;
        while (IsLeader && DateTime.UtcNow < deadline)
        {
            await Task.Delay(10, cancellationToken);
        }
    }

    public async Task Wake()
    {
        if (_raft is null && _stoppedReason == MissingReason)
        {
            // Activated (by a peer's message) before its silo created it: look again.
            _stoppedReason = null;
            await StartAsync(CancellationToken.None);
        }
    }

    public Task Deliver(RaftEnvelope envelope)
    {
        ArgumentNullException.ThrowIfNull(envelope);
        if (_stoppedReason is not null || _raft is null)
        {
            return Task.CompletedTask;
        }

        try
        {
            ulong appended = 0, appendedTerm = 0;
            foreach (var message in RaftWireCodec.Decode(envelope.Payload))
            {
                if (message.To == _id)
                {
                    LearnStore(message.From, envelope.SenderStore);
                    _raft.Step(message);
                    if (message.Type == MessageType.Append && message.Entries.Length > 0 && message.Entries[^1].Index > appended)
                    {
                        (appended, appendedTerm) = (message.Entries[^1].Index, message.Entries[^1].Term);
                    }

                    if (message.From == _raft.Leader)
                    {
                        _lastLeaderContact = System.Diagnostics.Stopwatch.GetTimestamp();
                    }
                }
            }

            StartAppendSpan(envelope, appended, appendedTerm);
        }
        catch (FormatException e)
        {
            LogBadMessage(_key, e.Message);
            return Task.CompletedTask;
        }
        catch (Exception e)
        {
            // The core refuses input that would break its invariants (for instance an append that
            // would overwrite a committed entry) by throwing; after any throw its state is unknown.
            // Stop rather than go on, and let a new activation reload from storage.
            Fail(e is InvalidOperationException ? "Raft invariant violated" : "unexpected failure stepping a message", e);
            return Task.CompletedTask;
        }

        SchedulePump();
        return Task.CompletedTask;
    }

    public Task<ReplicaReply> Propose(WriteRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (_stoppedReason is not null || _raft is null)
        {
            return Task.FromResult(ReplicaReply.Retry($"replica stopped: {_stoppedReason ?? "starting"}"));
        }

        if (RequestError(request) is { } error)
        {
            return Task.FromResult(ReplicaReply.Done(new KvResponse(KvStatus.InvalidRequest, 0, null, error)));
        }

        // The leader stamps the log's time (from its monotonic clock, see LogClock) and the shard's
        // limits: every replica applies the same bytes.
        var sessionTtlMs = (ulong)_keyValue.SessionTtlSeconds * 1000;
        var command = KvCommand.From(request) with
        {
            TimestampMs = _logClock.Stamp(Raft.Term, System.Diagnostics.Stopwatch.GetTimestamp(), _kv.ClockMs, Math.Max(1, sessionTtlMs / 2)),
            SessionTtlMs = sessionTtlMs,
            QuotaBytes = (ulong)_keyValue.QuotaBytesPerShard,
        };
        var result = Raft.Propose(command.Encode());
        switch (result.Status)
        {
            case ProposeStatus.Accepted:
                var pending = new PendingWrite(result.Term, ProposeSpan(result.LastIndex, result.Term));
                _pendingWrites[result.LastIndex] = pending;
                ReplicaMetrics.Proposals.Add(1, _metricTags);
                SchedulePump();
                return WithinWaitLimitAsync(pending.Completion.Task, "the write");
            case ProposeStatus.NotLeader:
                return Task.FromResult(ReplicaReply.NotLeader(result.LeaderHint, Members));
            default:
                return Task.FromResult(ReplicaReply.Retry(result.Status.ToString(), Members));
        }
    }

    public Task<ReplicaReply[]> Execute(KvOperation[] operations)
    {
        ArgumentNullException.ThrowIfNull(operations);
        // Every operation starts in this turn, before the pump runs: the writes go into one append
        // and the reads into one round.
        var replies = new Task<ReplicaReply>[operations.Length];
        _batching = true;
        try
        {
            for (var i = 0; i < operations.Length; i++)
            {
                var operation = operations[i];
                replies[i] = operation switch
                {
                    { Write: { } write } => Propose(write),
                    { ReadKey: { } key } => Read(key, operation.Consistency),
                    _ => Task.FromResult(ReplicaReply.Done(new KvResponse(KvStatus.InvalidRequest, 0, null, "an operation needs a write or a key to read"))),
                };
            }
        }
        finally
        {
            _batching = false;
            if (_readsInRound.Count == 0 && _stoppedReason is null && _raft is not null)
            {
                StartReadRound();
            }

            SchedulePump();
        }

        return WithinResponseBudgetAsync(replies);
    }

    /// <summary>
    /// The answers to a batch, with reads past <see cref="Shards.ShardGrain.MaxBatchResponseBytes"/> of
    /// values (the first always fits) turned into retries: the router sends those alone, so no
    /// answer grows past what one Orleans message may carry.
    /// </summary>
    private static async Task<ReplicaReply[]> WithinResponseBudgetAsync(Task<ReplicaReply>[] pending)
    {
        var replies = await Task.WhenAll(pending);
        long bytes = 0;
        for (var i = 0; i < replies.Length; i++)
        {
            if (replies[i].Response?.Value is { } value)
            {
                bytes += value.Length;
                if (bytes > Shards.ShardGrain.MaxBatchResponseBytes && bytes > value.Length)
                {
                    replies[i] = ReplicaReply.Retry("the batch's answer is full: read alone", replies[i].Members);
                }
            }
        }

        return replies;
    }

    public Task<ReplicaStatus> GetStatus()
    {
        var status = _raft?.GetStatus();
        var role = _stoppedReason switch
        {
            // A learner follows like any follower but does not count: say so.
            null when status is { Role: RaftRole.Follower } && !Raft.Config.IsVoter(_id) => "Learner",
            null => status?.Role.ToString() ?? "Starting",
            MissingReason => "Missing",
            RemovedReason => "Removed",
            LostReason => "Lost",
            _ => "Stopped",
        };
        return Task.FromResult(new ReplicaStatus(
            _shard,
            _id,
            RuntimeIdentity,
            role,
            status?.Term ?? 0,
            status?.Leader ?? 0,
            status?.Commit ?? 0,
            status?.Applied ?? 0,
            status?.LastIndex ?? 0,
            status?.SnapshotIndex ?? 0,
            _kv.Count,
            _raft?.LeadsByTransfer ?? false,
            _raft is { } raft ? raft.LogBytes(raft.FirstIndex, raft.LastIndex) : 0,
            _kv.DataBytes,
            _kv.SessionCount,
            _raft?.LatestSnapshot?.Data.Length ?? 0,
            StoreIdentity.Hex(_store),
            Members is { } members ? [.. members.Ids] : [],
            Members is { } group ? [.. group.Ids.Where((_, i) => group.Voters[i])] : [],
            _raft?.Quiesced ?? false,
            localSilo.Name,
            status is { Leader: not 0 } ? _leaderSince : null,
            status is { Role: RaftRole.Leader } && Members is { } led ? [.. led.Ids.Select(id => id == _id ? status.LastIndex : status.Progress.TryGetValue(id, out var p) ? p.Match : 0)] : null));
    }

    public Task<bool> TransferLeadership(ulong replica)
    {
        if (!IsLeader || !Raft.Config.IsVoter(replica))
        {
            return Task.FromResult(false);
        }

        var accepted = Raft.TransferLeadership(replica) == ProposeStatus.Accepted;
        SchedulePump();
        return Task.FromResult(accepted);
    }

    /// <summary>
    /// This replica's view of its group for routers and the ring: its newest committed
    /// configuration (null before it has one), built once per configuration. Never one that is
    /// only appended: a leader deposed before its change committed would leave routers keeping, by
    /// its higher index, a group the log then dropped (one without the new leader, say).
    /// </summary>
    private ShardMembers? Members
    {
        get
        {
            if (_raft is not { } raft)
            {
                return null;
            }

            var (config, index) = raft.CommittedConfig;
            if (!config.Members.Any())
            {
                return null;
            }

            if (_members is null || _members.ConfigIndex != index || !ReferenceEquals(_membersOf, config))
            {
                _members = MembersOf(config, index);
                _membersOf = config;
            }

            return _members;
        }
    }

    /// <summary>The members of <paramref name="config"/>, as of log index <paramref name="configIndex"/>.</summary>
    internal static ShardMembers MembersOf(ClusterConfig config, ulong configIndex)
    {
        var ids = config.Members.ToArray();
        return new ShardMembers(configIndex, ids, [.. ids.Select(config.StoreOf)], [.. ids.Select(config.IsVoter)], config.NextId);
    }

    private static string? RequestError(WriteRequest request)
    {
        if (request.SessionToken is not { Length: SessionTokens.Bytes })
        {
            return $"a write carries its session's token of {SessionTokens.Bytes} bytes (this one has {request.SessionToken?.Length ?? 0})";
        }

        return request.Kind switch
        {
            WriteKind.OpenSession => null,
            < WriteKind.Put or > WriteKind.OpenSession => $"unknown write kind {request.Kind}",
            _ => KeyRules.ValidateKey(request.Key)
                ?? (request.Value is { } value ? KeyRules.ValidateValue(value) : null)
                ?? (request.Kind == WriteKind.Put && request.Value is null ? "a put needs a value" : null),
        };
    }

    private Task OnTickAsync(CancellationToken cancellationToken)
    {
        if (_stoppedReason is null && _raft is not null)
        {
            try
            {
                if (_raft.Quiesced && _raft.Role == RaftRole.Follower && _raft.Leader != RaftNode.None
                    && !stores.IsLive(_raft.Config.StoreOf(_raft.Leader)))
                {
                    // Backstop for store liveness: the leader's store has left the membership.
                    WakeForSuspectedLeader();
                }

                _raft.Tick();
                CountQuorumLosses();
            }
            catch (Exception e)
            {
                Fail("unexpected failure ticking the core", e);
                return Task.CompletedTask;
            }

            SchedulePump();
            MaybeReconcile();
            AdjustTimer();
            PublishGauges();
        }

        return Task.CompletedTask;
    }

    public Task StoreSuspected(ulong store)
    {
        if (_stoppedReason is not null || _raft is not { Quiesced: true } raft)
        {
            return Task.CompletedTask;
        }

        if (raft.Role == RaftRole.Follower && raft.Leader != RaftNode.None && raft.Config.StoreOf(raft.Leader) == store)
        {
            WakeForSuspectedLeader();
        }
        else if (raft.Role == RaftRole.Leader && raft.Config.Members.Any(m => m != _id && raft.Config.StoreOf(m) == store))
        {
            // A member's store went quiet or restarted: heartbeat again, so that a member that no
            // longer answers (a lost state stays silent) shows as inactive and gets replaced. The
            // group cannot quiesce again until every member answers.
            LogWokenForSuspectedMember(_key, store);
            raft.Unquiesce();
        }
        else
        {
            return Task.CompletedTask;
        }

        SchedulePump();
        AdjustTimer();
        return Task.CompletedTask;
    }

    private void WakeForSuspectedLeader()
    {
        var silent = System.Diagnostics.Stopwatch.GetElapsedTime(_lastLeaderContact);
        var ticks = (int)Math.Min(int.MaxValue, silent.Ticks / _options.Tick.Ticks);
        LogWokenForSuspectedLeader(_key, _raft!.Leader, (long)silent.TotalMilliseconds);
        _raft.Unquiesce(ticks);
    }

    /// <summary>A quiesced or unconfigured replica's timer fires rarely (housekeeping only); an awake one every tick.</summary>
    private void AdjustTimer()
    {
        // A replica with no configuration yet (a learner its leader has not reached, or one whose
        // addition never happened) has nothing to time: messages, not ticks, move it.
        var slow = _raft is not null && (_raft.Quiesced || !_raft.Config.Members.Any());
        if (_timer is null || _raft is null || _stoppedReason is not null || slow == _slowTimer)
        {
            return;
        }

        _slowTimer = slow;
        var period = _slowTimer ? TimeSpan.FromMilliseconds(_options.QuiescedTickMilliseconds) : _options.Tick;
        _timer.Change(period, period);
    }

    /// <summary>
    /// Replica <paramref name="id"/> of this shard, on the store the configuration names, or (for a
    /// new replica that has no configuration yet) the store its messages came from; null if neither.
    /// </summary>
    private IRaftReplicaGrain? PeerOf(ulong id, bool onlyLive = false)
    {
        var peerStore = _raft?.Config.StoreOf(id) ?? 0;
        if (peerStore == 0)
        {
            _learnedStores.TryGetValue(id, out peerStore);
        }

        // A store no live silo holds cannot be reached: Orleans would fail (and log) each attempt.
        return peerStore != 0 && (!onlyLive || stores.IsLive(peerStore)) ? GrainFactory.GetGrain<IRaftReplicaGrain>(ReplicaId.Format(_shard, id, peerStore)) : null;
    }

    private void LearnStore(ulong id, ulong store)
    {
        if (store != 0 && (_raft is null || _raft.Config.StoreOf(id) == 0))
        {
            _learnedStores[id] = store;
        }
    }

    /// <summary>Stops for good: answers nothing more, fails what waits, and lets Orleans collect the activation.</summary>
    private void Stop(string reason)
    {
        if (_stoppedReason is not null)
        {
            return;
        }

        _stoppedReason = reason;
        _timer?.Dispose();
        _gauge?.Dispose();
        EndAppendSpans();
        _installPersisted?.TrySetResult();
        FailPending($"replica stopped: {reason}");
        DeactivateOnIdle();
    }

    private void Fail(string what, Exception error)
    {
        LogStopped(_key, what, error);
        Stop(what);
    }

    /// <summary>
    /// Bounds how long a call waits for its entry to commit or its read to be confirmed. No call
    /// may wait without limit: Orleans completes a deactivation only once running calls return,
    /// and a deactivating leader's timer and incoming Raft messages stop, so a commit it waits for
    /// may never come (a membership run once left a leader answering nothing for minutes). After
    /// the limit the caller is told to retry: a retried write carries its session number and
    /// applies at most once.
    /// </summary>
    private static async Task<ReplicaReply> WithinWaitLimitAsync(Task<ReplicaReply> completion, string what)
    {
        try
        {
            return await completion.WaitAsync(PendingWaitLimit);
        }
        catch (TimeoutException)
        {
            return ReplicaReply.Retry($"{what} did not finish within {PendingWaitLimit.TotalSeconds:0}s here; it may still take effect");
        }
    }

    private sealed class PendingWrite(ulong term, System.Diagnostics.Activity? span)
    {
        public ulong Term { get; } = term;

        /// <summary>When it was proposed (a Stopwatch timestamp), for the commit latency.</summary>
        public long Proposed { get; } = System.Diagnostics.Stopwatch.GetTimestamp();

        /// <summary>The leader's span of this write, while the write is traced.</summary>
        public System.Diagnostics.Activity? Span { get; } = span;

        public TaskCompletionSource<ReplicaReply> Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }
}

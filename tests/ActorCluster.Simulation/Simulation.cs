using ActorCluster.Grains.Raft;

namespace ActorCluster.Simulation;

/// <summary>
/// A deterministic simulation of one Raft group: every node, the network, the disks, the faults
/// and the clients are driven by one event loop and one seeded generator, so a seed is a replay.
/// Invariants are checked after every event.
/// </summary>
public sealed partial class Simulation
{
    private readonly SimulationOptions _options;
    private readonly SeededRandom _rng;
    private readonly PriorityQueue<SimEvent, (long Time, long Seq)> _queue = new();
    private readonly SortedDictionary<ulong, SimNode> _nodes = [];
    private readonly HashSet<(ulong From, ulong To)> _blockedLinks = [];
    private readonly List<string> _violations = [];
    private readonly List<string> _trace = [];
    private readonly SimulationStats _stats = new();
    private readonly Dictionary<ulong, double> _clockRates = [];
    private readonly Dictionary<(ulong To, ulong From), long> _lastHeard = [];
    private readonly SeededRandom _clockRng;
    private long _seq;
    private long _now;
    private long _events;
    private ulong _traceHash = Fnv.Offset;
    private ulong _nextNodeId;
    private double _dropRate;
    private double _duplicateRate;
    private bool _faultsActive = true;

    public Simulation(SimulationOptions options)
    {
        _options = options;
        _rng = new SeededRandom(options.Seed);
        _clockRng = new SeededRandom(options.Seed ^ 0xC10C_D41F_7000UL);
        _dropRate = options.DropRate;
        _duplicateRate = options.DuplicateRate;
    }

    /// <summary>Runs a seed to the end of its liveness phase or its first violations.</summary>
    public SimulationResult Run()
    {
        var founders = Enumerable.Range(1, _options.Nodes).Select(i => (ulong)i).ToArray();
        _nextNodeId = (ulong)_options.Nodes + 1;
        var config = ClusterConfig.OfVoters(founders);
        foreach (var id in founders)
        {
            var node = new SimNode(id);
            _nodes[id] = node;
            node.Raft = RaftNode.Bootstrap(NodeOptions(id), config);
            // The bootstrap snapshot is written before the node can crash, as a real driver does.
            ProcessReadies(node, allowAsync: false);
            ScheduleTick(node);
        }

        var unit = _options.UnitsPerTick;
        for (var tick = 1; tick <= _options.FaultTicks + _options.LivenessTicks; tick++)
        {
            Schedule(((long)tick * unit) + (unit / 2), new SimEvent(SimEventKind.Control, 0, tick, null));
        }

        var end = (long)(_options.FaultTicks + _options.LivenessTicks + 1) * unit;
        while (_violations.Count == 0 && !_livenessReached && _queue.TryDequeue(out var ev, out var key))
        {
            if (key.Time > end)
            {
                break;
            }

            _now = key.Time;
            _events++;
            try
            {
                Handle(ev);
                CheckInvariants();
            }
            catch (Exception e) when (e is InvalidOperationException or ArgumentException or IndexOutOfRangeException or NullReferenceException or KeyNotFoundException)
            {
                // The core asserts its own invariants by throwing; a throw is a failed seed.
                Violation($"exception: {e.GetType().Name}: {e.Message} at {e.StackTrace?.Split('\n').FirstOrDefault()?.Trim()}");
            }
        }

        if (_violations.Count == 0 && !_livenessReached)
        {
            Violation(_commitLivenessReached
                ? $"liveness: no read completed within {_options.LivenessTicks} ticks after faults stopped"
                : $"liveness: no new proposal committed within {_options.LivenessTicks} ticks after faults stopped" + string.Concat(_nodes.Values.Select(n => $" [n{n.Id} {(n.Raft is { } r ? $"{r.Role} t{r.Term} last={r.LastIndex} commit={r.CommitIndex} {r.Config}" : n.Lost ? "lost" : "down")}]")));
        }

        _stats.CommitIndex = _maxCommitSeen;
        return new SimulationResult(_options, _events, _traceHash, _violations, _stats, _trace);
    }

    /// <summary>A node's lease clock: monotonic, across its restarts too, at a rate of its own.</summary>
    private Func<long> ClockOf(ulong id)
    {
        if (!_clockRates.TryGetValue(id, out var rate))
        {
            // Drawn from a generator of its own so that the rest of the run is the same seed's.
            _clockRates[id] = rate = 1 + (((((_clockRng.NextUInt64() >> 11) * (1.0 / (1UL << 53))) * 2) - 1) * _options.ClockDrift);
        }

        return () => 1 + (long)(_now * rate);
    }

    private RaftOptions NodeOptions(ulong id) => new()
    {
        Id = id,
        ElectionTicks = _options.ElectionTicks,
        HeartbeatTicks = 1,
        PreVote = _options.PreVote,
        CheckQuorum = _options.CheckQuorum,
        MaxInflightMessages = _options.MaxInflightMessages,
        MaxEntriesPerMessage = _options.MaxEntriesPerMessage,
        MaxUncommittedEntries = 64,
        LeaseDuration = _options.LeaseReads ? _options.LeaseUnits : 0,
        Clock = _options.LeaseReads ? ClockOf(id) : null,
        Quiesce = _options.Quiesce,
        BroadcastCommit = _options.BroadcastCommit,
        Random = new SeededRandom(_rng.NextUInt64()),
        Knobs = _options.Knobs,
    };

    private void Handle(SimEvent ev)
    {
        switch (ev.Kind)
        {
            case SimEventKind.Tick:
                if (_nodes[ev.Node] is { IsUp: true } ticked && ticked.Incarnation == ev.Incarnation)
                {
                    Trace(1, ev.Node, 0, () => $"tick n{ev.Node}");
                    ticked.Raft!.Tick();
                    ProcessReadies(ticked, _options.AsyncDisk);
                    ScheduleTick(ticked);
                }

                break;
            case SimEventKind.Deliver:
                Deliver(ev.Message!);
                break;
            case SimEventKind.DiskDone:
                if (_nodes[ev.Node] is { IsUp: true } writer && writer.Incarnation == ev.Incarnation && writer.Persisting is { } ready)
                {
                    Trace(3, ev.Node, 0, () => $"disk done n{ev.Node}");
                    writer.Persisting = null;
                    CompleteReady(writer, ready);
                    ProcessReadies(writer, _options.AsyncDisk);
                }

                break;
            case SimEventKind.Control:
                Control(ev.Incarnation);
                break;
        }
    }

    private void Deliver(Message message)
    {
        var target = _nodes[message.To];
        if (!target.IsUp)
        {
            _stats.MessagesDropped++;
            return;
        }

        _stats.MessagesDelivered++;
        _lastHeard[(message.To, message.From)] = _now;
        Trace(2, message.To, (ulong)message.Type, () => $"deliver {message}");
        target.Raft!.Step(message);
        ProcessReadies(target, _options.AsyncDisk);
    }

    private void Send(Message message)
    {
        var dropped = !_nodes.ContainsKey(message.To) || _blockedLinks.Contains((message.From, message.To)) || _rng.Chance(_dropRate);
        if (message.Type == MessageType.InstallSnapshot && _nodes.TryGetValue(message.From, out var sender) && sender.Raft is { } raft)
        {
            // The transport reports how the snapshot transfer ended; half the time a lost one goes
            // unnoticed (the leader then waits an election timeout for an answer).
            raft.ReportSnapshot(message.To, sent: !dropped || _rng.Chance(0.5));
        }

        if (dropped)
        {
            _stats.MessagesDropped++;
            return;
        }

        Schedule(_now + 1 + _rng.Next(_options.MaxDelayUnits), new SimEvent(SimEventKind.Deliver, message.To, 0, message));
        if (_rng.Chance(_duplicateRate))
        {
            Schedule(_now + 1 + _rng.Next(_options.MaxDelayUnits), new SimEvent(SimEventKind.Deliver, message.To, 0, message));
        }
    }

    private void ScheduleTick(SimNode node) =>
        Schedule(_now + _options.UnitsPerTick, new SimEvent(SimEventKind.Tick, node.Id, node.Incarnation, null));

    private void Schedule(long time, SimEvent ev) => _queue.Enqueue(ev, (time, _seq++));

    private void Trace(ulong kind, ulong node, ulong detail, Func<string> describe)
    {
        _traceHash = Fnv.Mix(Fnv.Mix(Fnv.Mix(Fnv.Mix(_traceHash, (ulong)_now), kind), node), detail);
        if (_options.RecordTrace)
        {
            _trace.Add($"[{_now / _options.UnitsPerTick}.{_now % _options.UnitsPerTick}] {describe()}");
        }
    }

    private void Violation(string what)
    {
        _violations.Add($"t={_now / _options.UnitsPerTick}: {what}");
        Trace(99, 0, 0, () => $"VIOLATION {what}");
    }

    private enum SimEventKind : byte
    {
        Tick,
        Deliver,
        DiskDone,
        Control,
    }

    private sealed record SimEvent(SimEventKind Kind, ulong Node, int Incarnation, Message? Message);
}

using ActorCluster.Grains.Raft;

namespace ActorCluster.Tests.Raft;

/// <summary>
/// Nodes connected by a reliable, instantaneous network with cuttable links, delivering until
/// quiet. Deterministic: messages are delivered in send order.
/// </summary>
internal sealed class TestNetwork
{
    private readonly HashSet<(ulong From, ulong To)> _cut = [];
    private readonly HashSet<MessageType> _dropTypes = [];

    public TestNetwork(params RaftNode[] nodes)
    {
        foreach (var node in nodes)
        {
            Nodes[node.Id] = node;
        }
    }

    public Dictionary<ulong, RaftNode> Nodes { get; } = [];

    public List<Message> Delivered { get; } = [];

    /// <summary>
    /// Whether the network tells a leader how each snapshot send went, as a real transport does
    /// (sent unless the link is cut; a message dropped by type was sent and then lost).
    /// </summary>
    public bool ReportsSnapshots { get; set; } = true;

    /// <summary>Every message handed to the network, delivered or not (cut links, dropped types).</summary>
    public List<Message> Sent { get; } = [];

    /// <summary>Committed entries each node handed to its application, in order.</summary>
    public Dictionary<ulong, List<Entry>> Applied { get; } = [];

    /// <summary>Completed reads each node reported.</summary>
    public Dictionary<ulong, List<ReadState>> Reads { get; } = [];

    public static TestNetwork Of(int size, bool preVote = false, bool checkQuorum = false, RaftTestingKnobs knobs = RaftTestingKnobs.None)
    {
        var ids = Enumerable.Range(1, size).Select(i => (ulong)i).ToArray();
        return new TestNetwork([.. ids.Select(id => RaftHarness.NewNode(id, ids, preVote: preVote, checkQuorum: checkQuorum, knobs: knobs))]);
    }

    public RaftNode this[ulong id] => Nodes[id];

    public void Cut(ulong a, ulong b)
    {
        _cut.Add((a, b));
        _cut.Add((b, a));
    }

    public void CutOneWay(ulong from, ulong to) => _cut.Add((from, to));

    public void Isolate(ulong id)
    {
        foreach (var other in Nodes.Keys.Where(o => o != id))
        {
            Cut(id, other);
        }
    }

    public void Drop(MessageType type) => _dropTypes.Add(type);

    public void Heal()
    {
        _cut.Clear();
        _dropTypes.Clear();
    }

    /// <summary>Ticks one node until it starts an election (or leads), then delivers everything.</summary>
    public void Campaign(ulong id)
    {
        var node = Nodes[id];
        var term = node.Term;
        RaftHarness.TickUntil(node, () => node.Role != RaftRole.Follower || node.Term != term, maxTicks: 100);
        Stabilize();
    }

    /// <summary>Elects <paramref name="id"/> and commits its first entry.</summary>
    public RaftNode Elect(ulong id)
    {
        Campaign(id);
        Assert.Equal(RaftRole.Leader, Nodes[id].Role);
        return Nodes[id];
    }

    /// <summary>Delivers messages until no node has output.</summary>
    public void Stabilize(int maxRounds = 10_000)
    {
        for (var round = 0; round < maxRounds; round++)
        {
            var pending = new List<Message>();
            foreach (var node in Nodes.Values)
            {
                foreach (var ready in RaftHarness.DrainReadies(node))
                {
                    pending.AddRange(ready.Messages);
                    Record(node.Id, ready);
                }
            }

            if (pending.Count == 0)
            {
                return;
            }

            Deliver(pending);
        }

        throw new InvalidOperationException("The network did not settle.");
    }

    /// <summary>Keeps what a ready handed to the application, for readies drained by a test.</summary>
    public void Record(ulong id, Ready ready)
    {
        if (!Applied.TryGetValue(id, out var applied))
        {
            Applied[id] = applied = [];
            Reads[id] = [];
        }

        applied.AddRange(ready.CommittedEntries);
        Reads[id].AddRange(ready.ReadStates);
    }

    public void Deliver(IEnumerable<Message> messages)
    {
        foreach (var message in messages)
        {
            Sent.Add(message);
            if (ReportsSnapshots && message.Type == MessageType.InstallSnapshot && Nodes.TryGetValue(message.From, out var sender))
            {
                sender.ReportSnapshot(message.To, sent: !_cut.Contains((message.From, message.To)));
            }

            if (_cut.Contains((message.From, message.To)) || _dropTypes.Contains(message.Type) || !Nodes.TryGetValue(message.To, out var target))
            {
                continue;
            }

            Delivered.Add(message);
            target.Step(message);
        }
    }

    /// <summary>Ticks every node once and delivers the outcome.</summary>
    public void TickAll(int times = 1)
    {
        for (var i = 0; i < times; i++)
        {
            foreach (var node in Nodes.Values)
            {
                node.Tick();
            }

            Stabilize();
        }
    }

    public ulong Propose(ulong id, string command)
    {
        var result = Nodes[id].Propose(System.Text.Encoding.UTF8.GetBytes(command));
        Assert.Equal(ProposeStatus.Accepted, result.Status);
        Stabilize();
        return result.LastIndex;
    }
}

using ActorCluster.Grains.Raft;
using static ActorCluster.Tests.Raft.RaftHarness;

namespace ActorCluster.Tests.Raft;

/// <summary>
/// Leader leases (thesis §6.4.1): a leader answers linearizable reads locally while a quorum has
/// acknowledged a heartbeat sent less than the lease ago, and never once that has run out.
/// </summary>
public sealed class RaftLeaseTests
{
    private const long Lease = 300;
    private static readonly ulong[] Three = [1, 2, 3];

    /// <summary>Three nodes on one manual clock (milliseconds), node 1 elected, its first entry committed.</summary>
    private static (TestNetwork Net, ManualClock Clock) LeaseNetwork(RaftTestingKnobs knobs = RaftTestingKnobs.None)
    {
        var clock = new ManualClock();
        var nodes = Three.Select(id =>
        {
            var node = RaftNode.Bootstrap(LeaseOptions(id, clock, knobs), ClusterConfig.OfVoters(Three));
            Drain(node);
            return node;
        }).ToArray();
        var net = new TestNetwork(nodes);
        // Fresh nodes refuse campaigns for their first election timeout (a restarted node does not
        // know when it last heard from a leader): let it pass, without letting anyone campaign.
        foreach (var node in nodes)
        {
            for (var i = 0; i < 10; i++)
            {
                node.Tick();
            }

            Drain(node);
        }

        net.Heal();
        // Node 1 campaigns now.
        net.Deliver([Msg(MessageType.TimeoutNow, 2, 1, nodes[0].Term)]);
        net.Stabilize();
        Assert.Equal(RaftRole.Leader, net[1].Role);
        return (net, clock);
    }

    private static RaftOptions LeaseOptions(ulong id, ManualClock clock, RaftTestingKnobs knobs = RaftTestingKnobs.None) =>
        With(id, Lease, clock.Read, checkQuorum: true, knobs);

    private static RaftOptions With(ulong id, long lease, Func<long>? clock, bool checkQuorum, RaftTestingKnobs knobs = RaftTestingKnobs.None) => new()
    {
        Id = id,
        CheckQuorum = checkQuorum,
        Random = new SeededRandom(id * 7919),
        Knobs = knobs,
        LeaseDuration = lease,
        Clock = clock,
    };

    /// <summary>Ticks <paramref name="a"/> and <paramref name="b"/> until one of them leads; returns it.</summary>
    private static ulong ElectAmong(TestNetwork net, ulong a, ulong b)
    {
        for (var i = 0; i < 200; i++)
        {
            net[a].Tick();
            net[b].Tick();
            net.Stabilize();
            if (net[a].Role == RaftRole.Leader || net[b].Role == RaftRole.Leader)
            {
                return net[a].Role == RaftRole.Leader ? a : b;
            }
        }

        throw new InvalidOperationException($"neither {a} nor {b} was elected");
    }

    /// <summary>One heartbeat round from the leader, delivered (through whatever the network lets through).</summary>
    private static void Heartbeat(TestNetwork net, ulong leader)
    {
        net[leader].Tick();
        net.Stabilize();
    }

    [Fact]
    public void A_leader_whose_heartbeat_a_quorum_acknowledged_answers_a_read_at_once_without_a_round()
    {
        var (net, clock) = LeaseNetwork();
        var leader = net[1];
        var index = net.Propose(1, "x");
        // Elected by votes and appends: no heartbeat acknowledged yet, so no lease.
        Assert.Null(leader.LeaseReadIndex());

        Heartbeat(net, 1);
        Assert.Equal(index, leader.LeaseReadIndex());
        Assert.Equal(clock.Now + Lease, leader.LeaseExpiresAt);

        // A read request completes in the next ready with no heartbeat sent for it.
        clock.Advance(Lease - 1);
        Assert.Equal(ProposeStatus.Accepted, leader.ReadIndex(7));
        var ready = leader.GetReady();
        Assert.Equal(new ReadState(index, 7), Assert.Single(ready.ReadStates));
        Assert.DoesNotContain(ready.Messages, m => m.Type == MessageType.Heartbeat);
        leader.Advance(ready);
    }

    [Fact]
    public void The_lease_runs_from_when_the_heartbeat_was_sent_not_from_when_its_answers_arrived()
    {
        var (net, clock) = LeaseNetwork();
        var leader = net[1];
        net.Propose(1, "x");
        var sentAt = clock.Now;
        leader.Tick();
        var beats = Drain(leader);
        // The answers take most of the lease to come back.
        clock.Advance(Lease - 10);
        net.Deliver(beats);
        net.Stabilize();
        Assert.Equal(sentAt + Lease, leader.LeaseExpiresAt);
        Assert.NotNull(leader.LeaseReadIndex());
        clock.Advance(10);
        Assert.Null(leader.LeaseReadIndex());
    }

    [Fact]
    public void An_old_echo_arriving_after_a_newer_one_does_not_move_the_lease_back()
    {
        var (net, clock) = LeaseNetwork();
        var leader = net[1];
        net.Propose(1, "x");
        leader.Tick();
        var older = Drain(leader).Where(m => m.Type == MessageType.Heartbeat).ToList();
        clock.Advance(100);
        Heartbeat(net, 1);
        var expires = leader.LeaseExpiresAt;
        Assert.Equal(clock.Now + Lease, expires);
        // The first round's echoes arrive late.
        net.Deliver(older);
        net.Stabilize();
        Assert.Equal(expires, leader.LeaseExpiresAt);
    }

    [Fact]
    public void Without_a_quorum_acknowledging_in_time_the_lease_lapses_and_reads_take_a_heartbeat_round()
    {
        var (net, clock) = LeaseNetwork();
        var leader = net[1];
        var index = net.Propose(1, "x");
        Heartbeat(net, 1);
        net.Isolate(1);
        clock.Advance(Lease);
        Heartbeat(net, 1);
        Assert.Null(leader.LeaseReadIndex());

        Assert.Equal(ProposeStatus.Accepted, leader.ReadIndex(9));
        net.Stabilize();
        Assert.Empty(net.Reads[1]);
        net.Heal();
        Heartbeat(net, 1);
        Assert.Equal(new ReadState(index, 9), Assert.Single(net.Reads[1]));
        // The answered round renewed the lease.
        Assert.NotNull(leader.LeaseReadIndex());
    }

    [Fact]
    public void A_deposed_leader_whose_lease_ran_out_never_answers_though_it_still_thinks_it_leads()
    {
        var (net, clock) = LeaseNetwork();
        var old = net[1];
        var before = net.Propose(1, "x");
        Heartbeat(net, 1);
        Assert.NotNull(old.LeaseReadIndex());

        // Node 1 is cut off; 2 and 3 elect one of them once their stickiness is over (an election timeout
        // without the leader) and commit a write that 1 never sees. 1 is not ticked, so it has
        // not yet noticed (check-quorum) that it lost its quorum: it still calls itself leader.
        net.Isolate(1);
        clock.Advance(Lease);
        var successor = ElectAmong(net, 2, 3);
        var after = net.Propose(successor, "y");
        Assert.True(after > before);
        Assert.Equal(RaftRole.Leader, old.Role);

        Assert.Null(old.LeaseReadIndex());
        Assert.Equal(ProposeStatus.Accepted, old.ReadIndex(5));
        net.Stabilize();
        Assert.Empty(net.Reads[1]);
    }

    [Fact]
    public void The_deposed_leader_test_catches_a_lease_that_never_expires()
    {
        var (net, clock) = LeaseNetwork(RaftTestingKnobs.LeaseNeverExpires);
        var old = net[1];
        var before = net.Propose(1, "x");
        Heartbeat(net, 1);
        net.Isolate(1);
        clock.Advance(Lease);
        var successor = ElectAmong(net, 2, 3);
        var after = net.Propose(successor, "y");
        // The broken lease serves the old commit index: a stale read of a write acknowledged before it.
        Assert.Equal(before, old.LeaseReadIndex());
        Assert.True(after > before);
    }

    [Fact]
    public void Followers_that_acknowledged_a_heartbeat_refuse_campaigns_for_longer_than_the_lease()
    {
        var (net, _) = LeaseNetwork();
        net.Propose(1, "x");
        Heartbeat(net, 1);
        Assert.NotNull(net[1].LeaseReadIndex());
        // Node 3 cannot reach the leader and campaigns as soon as its timer lets it; node 2 heard
        // from the leader within an election timeout and refuses, so 3 cannot win while 1 holds its lease.
        net.Cut(1, 3);
        for (var i = 0; i < 9; i++)
        {
            net[2].Tick();
            net[3].Tick();
            net.Stabilize();
        }

        Assert.NotEqual(RaftRole.Leader, net[3].Role);
        Assert.Equal(RaftRole.Leader, net[1].Role);
    }

    [Fact]
    public void A_restarted_node_refuses_campaigns_for_its_first_election_timeout()
    {
        // It may have acknowledged the current leader's heartbeat just before it went down.
        var clock = new ManualClock();
        var restarted = RaftNode.Start(LeaseOptions(2, clock), new RaftStorageState(new HardState(1, 1, 0), new Snapshot(new SnapshotMetadata(0, 0, ClusterConfig.OfVoters(Three)), []), [], 0));
        for (var tick = 0; tick < 10; tick++)
        {
            restarted.Step(Msg(MessageType.Vote, 3, 2, 2 + (ulong)tick, index: 0, logTerm: 0));
            Assert.DoesNotContain(Drain(restarted), m => m.Type == MessageType.VoteResponse && !m.Reject);
            restarted.Tick();
        }

        restarted.Step(Msg(MessageType.Vote, 3, 2, 20, index: 0, logTerm: 0));
        Assert.Contains(Drain(restarted), m => m.Type == MessageType.VoteResponse && !m.Reject);
    }

    [Fact]
    public void A_leader_that_sent_a_timeout_now_holds_no_lease_for_the_rest_of_its_term()
    {
        var (net, _) = LeaseNetwork();
        var leader = net[1];
        net.Propose(1, "x");
        Heartbeat(net, 1);
        Assert.NotNull(leader.LeaseReadIndex());
        // The transfer target votes at once and its voters skip stickiness; here the TimeoutNow is lost.
        net.Drop(MessageType.TimeoutNow);
        Assert.Equal(ProposeStatus.Accepted, leader.TransferLeadership(3));
        Assert.Null(leader.LeaseReadIndex());
        net.Stabilize();
        // The transfer is abandoned after an election timeout; the leader still holds no lease,
        // since the lost TimeoutNow may yet arrive.
        for (var i = 0; i < 12; i++)
        {
            Heartbeat(net, 1);
        }

        Assert.Equal(RaftRole.Leader, leader.Role);
        Assert.Null(leader.LeaseReadIndex());
    }

    [Fact]
    public void A_new_leader_holds_no_lease_before_it_commits_an_entry_of_its_term()
    {
        var (net, _) = LeaseNetwork();
        net.Propose(1, "x");
        Heartbeat(net, 1);
        // Node 2 is handed the leadership, but its first entry's appends are lost.
        net.Drop(MessageType.Append);
        net.Deliver([Msg(MessageType.TimeoutNow, 1, 2, net[2].Term)]);
        net.Stabilize();
        Assert.Equal(RaftRole.Leader, net[2].Role);
        Heartbeat(net, 2);
        Assert.Null(net[2].LeaseReadIndex());
        net.Heal();
        Heartbeat(net, 2);
        net.Stabilize();
        Heartbeat(net, 2);
        Assert.NotNull(net[2].LeaseReadIndex());
    }

    [Fact]
    public void A_lease_needs_a_clock_and_check_quorum()
    {
        Assert.Throws<ArgumentException>(() => RaftNode.Bootstrap(With(1, Lease, clock: null, checkQuorum: true), ClusterConfig.OfVoters(Three)));
        Assert.Throws<ArgumentException>(() => RaftNode.Bootstrap(With(1, Lease, () => 1, checkQuorum: false), ClusterConfig.OfVoters(Three)));
        Assert.Throws<ArgumentException>(() => RaftNode.Bootstrap(With(1, -1, () => 1, checkQuorum: true), ClusterConfig.OfVoters(Three)));
    }

    private sealed class ManualClock
    {
        public long Now { get; private set; } = 1_000;

        public long Read() => Now;

        public void Advance(long by) => Now += by;
    }
}

using ActorCluster.Grains.Raft;
using static ActorCluster.Tests.Raft.RaftHarness;

namespace ActorCluster.Tests.Raft;

/// <summary>
/// Quiescence: an idle group stops ticking and heartbeating, wakes on the first piece of work or
/// message, and a follower whose leader is gone campaigns once its driver wakes it.
/// </summary>
public sealed class RaftQuiesceTests
{
    private static readonly ulong[] Three = [1, 2, 3];

    private static RaftOptions QuiesceOptions(ulong id) => new()
    {
        Id = id,
        ElectionTicks = 10,
        HeartbeatTicks = 1,
        PreVote = true,
        CheckQuorum = true,
        Quiesce = true,
        Random = new SeededRandom(id * 7919),
    };

    /// <summary>Three quiescing nodes, node 1 leading with its first entry committed everywhere.</summary>
    private static TestNetwork Group()
    {
        var net = new TestNetwork([.. Three.Select(id =>
        {
            var node = RaftNode.Bootstrap(QuiesceOptions(id), ClusterConfig.OfVoters(Three));
            Drain(node);
            return node;
        })]);
        net.Deliver([Msg(MessageType.TimeoutNow, 2, 1, 0)]);
        net.Stabilize();
        Assert.Equal(RaftRole.Leader, net[1].Role);
        return net;
    }

    private static void TickAll(TestNetwork net, int times)
    {
        for (var i = 0; i < times; i++)
        {
            foreach (var node in net.Nodes.Values)
            {
                node.Tick();
            }

            net.Stabilize();
        }
    }

    [Fact]
    public void An_idle_group_quiesces_and_then_sends_nothing_however_long_it_ticks()
    {
        var net = Group();
        net.Propose(1, "x");
        TickAll(net, 1);
        Assert.All(net.Nodes.Values, n => Assert.True(n.Quiesced, $"node {n.Id} is not quiesced"));

        var sent = net.Sent.Count;
        TickAll(net, 200);
        Assert.Equal(sent, net.Sent.Count);
        Assert.Equal(RaftRole.Leader, net[1].Role);
        Assert.All(net.Nodes.Values.Where(n => n.Id != 1), n => Assert.Equal(RaftRole.Follower, n.Role));
    }

    [Fact]
    public void A_proposal_wakes_the_group_commits_and_the_group_quiesces_again()
    {
        var net = Group();
        TickAll(net, 1);
        Assert.True(net[1].Quiesced);
        var index = net.Propose(1, "y");
        Assert.False(net[1].Quiesced);
        Assert.All(net.Nodes.Values, n => Assert.Equal(index, n.CommitIndex));
        Assert.All(net.Nodes.Values.Where(n => n.Id != 1), n => Assert.False(n.Quiesced));
        TickAll(net, 2);
        Assert.All(net.Nodes.Values, n => Assert.True(n.Quiesced));
        Assert.All(net.Nodes.Values, n => Assert.Equal(index, n.CommitIndex));
    }

    [Fact]
    public void A_leader_does_not_quiesce_while_a_follower_lags_and_catches_it_up_first()
    {
        var net = Group();
        net.Cut(1, 3);
        var index = net.Propose(1, "z");
        TickAll(net, 3);
        Assert.False(net[1].Quiesced);
        Assert.True(net[3].CommitIndex < index);
        net.Heal();
        TickAll(net, 3);
        Assert.All(net.Nodes.Values, n => Assert.Equal(index, n.CommitIndex));
        Assert.All(net.Nodes.Values, n => Assert.True(n.Quiesced));
    }

    [Fact]
    public void A_woken_leader_stays_awake_until_every_member_answers_again_and_then_sees_the_silent_one_inactive()
    {
        // A quiesced leader's view of who is active is frozen from before it quiesced. Woken
        // because a member's silo restarted, it must not quiesce again on that stale view: the
        // member may have come back without its state and never answer (then it must be found
        // inactive, and replaced), and the group must stay awake meanwhile.
        var net = Group();
        net.Propose(1, "x");
        TickAll(net, 1);
        Assert.All(net.Nodes.Values, n => Assert.True(n.Quiesced));

        net.Isolate(3);
        net[1].Unquiesce();
        net.Stabilize();
        TickAll(net, 3);
        Assert.False(net[1].Quiesced);
        TickAll(net, 10);
        Assert.False(net[1].Quiesced);
        Assert.Equal(RaftRole.Leader, net[1].Role);
        Assert.False(net[1].GetStatus().Progress[3].RecentActive);
        Assert.True(net[1].GetStatus().Progress[2].RecentActive);

        // It answers again: the group quiesces.
        net.Heal();
        TickAll(net, 3);
        Assert.All(net.Nodes.Values, n => Assert.True(n.Quiesced));
    }

    [Fact]
    public void A_leader_that_stepped_down_while_its_followers_slept_gets_their_votes()
    {
        // A woken leader that loses its quorum steps down and campaigns; its followers, quiesced,
        // still count it as their leader and never time out by themselves. Its campaign wakes
        // them, and once they have waited out an election timeout they vote: the group has a
        // leader again rather than sleeping under one that is gone.
        var net = Group();
        net.Propose(1, "x");
        TickAll(net, 1);
        Assert.All(net.Nodes.Values, n => Assert.True(n.Quiesced));

        net.Isolate(1);
        net[1].Unquiesce();
        TickAll(net, 40);
        Assert.NotEqual(RaftRole.Leader, net[1].Role);
        Assert.True(net[2].Quiesced && net[3].Quiesced);
        Assert.Equal(1UL, net[2].GetStatus().Leader);

        net.Heal();
        TickAll(net, 40);
        Assert.Single(net.Nodes.Values, n => n.Role == RaftRole.Leader);
    }

    [Fact]
    public void A_woken_leader_whose_members_all_answer_quiesces_again_at_once()
    {
        var net = Group();
        net.Propose(1, "x");
        TickAll(net, 1);
        Assert.True(net[1].Quiesced);
        net[1].Unquiesce();
        net.Stabilize();
        TickAll(net, 2);
        Assert.All(net.Nodes.Values, n => Assert.True(n.Quiesced));
        Assert.Equal(RaftRole.Leader, net[1].Role);
    }

    [Fact]
    public void A_follower_behind_the_quiesce_heartbeat_answers_instead_of_quiescing()
    {
        // Entries past the leader's commit index (from an older leader) are not "caught up".
        var start = RaftNode.Start(QuiesceOptions(2), new RaftStorageState(new HardState(1, 0, 2), new Snapshot(new SnapshotMetadata(0, 0, ClusterConfig.OfVoters(Three)), []), Entries(1, 1, 1, 1), 0));
        Drain(start);
        start.Step(new Message { Type = MessageType.Heartbeat, From = 1, To = 2, Term = 1, Commit = 2, Quiesce = true });
        Assert.False(start.Quiesced);
        Assert.Contains(Drain(start), m => m.Type == MessageType.HeartbeatResponse && m.To == 1);
    }

    [Fact]
    public void A_read_on_a_quiesced_leader_wakes_it_and_is_confirmed_by_a_heartbeat_round()
    {
        var net = Group();
        var index = net.Propose(1, "r");
        TickAll(net, 1);
        Assert.True(net[1].Quiesced);
        Assert.Equal(ProposeStatus.Accepted, net[1].ReadIndex(11));
        net.Stabilize();
        Assert.Equal(new ReadState(index, 11), Assert.Single(net.Reads[1]));
        Assert.False(net[1].Quiesced);
    }

    [Fact]
    public void A_quiesced_follower_never_campaigns_by_itself_but_does_once_woken_for_a_lost_leader()
    {
        var net = Group();
        net.Propose(1, "x");
        TickAll(net, 1);
        // The leader's silo dies: nothing tells the quiesced followers.
        net.Isolate(1);
        net.Nodes.Remove(1);
        TickAll(net, 100);
        Assert.All(net.Nodes.Values, n => Assert.Equal(RaftRole.Follower, n.Role));
        Assert.All(net.Nodes.Values, n => Assert.True(n.Quiesced));

        // The driver suspects the leader's silo; the followers last heard from it 100 ticks ago.
        foreach (var node in net.Nodes.Values)
        {
            node.Unquiesce(ticksSinceLeaderContact: 100);
        }

        // A new leader within a few election timeouts (the grace for the leader's answer, then the
        // timeout's jitter, and perhaps a split vote).
        for (var tick = 0; tick < 60 && net.Nodes.Values.All(n => n.Role != RaftRole.Leader); tick++)
        {
            TickAll(net, 1);
        }

        Assert.Contains(net.Nodes.Values, n => n.Role == RaftRole.Leader);
    }

    [Fact]
    public void A_false_suspicion_wakes_the_followers_who_ask_the_leader_and_it_keeps_leading()
    {
        var net = Group();
        net.Propose(1, "x");
        TickAll(net, 1);
        var term = net[1].Term;
        Assert.All(net.Nodes.Values, n => Assert.True(n.Quiesced));

        // Both followers suspect the leader's silo (a late pulse on a busy machine) and last heard
        // from it long ago; the leader is alive and well.
        net[2].Unquiesce(ticksSinceLeaderContact: 100);
        net[3].Unquiesce(ticksSinceLeaderContact: 100);
        net.Stabilize();
        Assert.False(net[1].Quiesced);
        TickAll(net, 40);

        Assert.Equal((RaftRole.Leader, term), (net[1].Role, net[1].Term));
        Assert.All(net.Nodes.Values, n => Assert.Equal(1UL, n.Leader));
    }

    [Fact]
    public void A_quiesced_follower_stays_sticky_and_a_campaign_that_wakes_it_waits_out_an_election_timeout()
    {
        var net = Group();
        net.Propose(1, "x");
        TickAll(net, 1);
        var follower = net[2];
        Assert.True(follower.Quiesced);
        // However long it has been quiesced, it counted no ticks: a vote request finds it sticky.
        for (var i = 0; i < 50; i++)
        {
            follower.Tick();
        }

        follower.Step(Msg(MessageType.PreVote, 3, 2, follower.Term + 1, index: follower.LastIndex, logTerm: follower.Term));
        Assert.DoesNotContain(Drain(follower), m => m.Type == MessageType.PreVoteResponse && !m.Reject);
        Assert.False(follower.Quiesced);
    }

    [Fact]
    public void A_quiesced_leader_that_hears_a_campaign_wakes_and_heartbeats_so_the_group_keeps_its_leader()
    {
        var net = Group();
        net.Propose(1, "x");
        TickAll(net, 1);
        // Node 3 restarts (a fresh node knows no leader) and campaigns after its timeout.
        var restarted = RaftNode.Start(QuiesceOptions(3), new RaftStorageState(new HardState(net[3].Term, 0, net[3].CommitIndex), new Snapshot(new SnapshotMetadata(net[3].LastIndex, net[3].Term, ClusterConfig.OfVoters(Three)), []), [], net[3].LastIndex));
        Drain(restarted);
        net.Nodes[3] = restarted;
        for (var tick = 0; tick < 40; tick++)
        {
            TickAll(net, 1);
        }

        Assert.Equal(RaftRole.Leader, net[1].Role);
        Assert.Equal(net[1].Term, restarted.Term);
        Assert.Equal(1UL, restarted.Leader);
    }

    [Fact]
    public void Quiescence_is_off_unless_asked_for()
    {
        var net = TestNetwork.Of(3, preVote: true, checkQuorum: true);
        net.Elect(1);
        net.Propose(1, "x");
        net.TickAll(20);
        Assert.All(net.Nodes.Values, n => Assert.False(n.Quiesced));
    }
}

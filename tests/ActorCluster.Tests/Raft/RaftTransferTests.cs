using ActorCluster.Grains.Raft;
using static ActorCluster.Tests.Raft.RaftHarness;

namespace ActorCluster.Tests.Raft;

/// <summary>Leadership transfer (thesis §3.10).</summary>
public sealed class RaftTransferTests
{
    [Fact]
    public void Thesis_3_10_an_up_to_date_transferee_is_sent_TimeoutNow_and_wins_at_once()
    {
        var net = TestNetwork.Of(3, preVote: true, checkQuorum: true);
        var leader = net.Elect(1);
        var term = leader.Term;
        Assert.Equal(ProposeStatus.Accepted, leader.TransferLeadership(3));
        net.Stabilize();
        Assert.Equal(RaftRole.Leader, net[3].Role);
        Assert.Equal(term + 1, net[3].Term);
        Assert.Equal(RaftRole.Follower, leader.Role);
        Assert.Equal(3UL, leader.Leader);
        // The transfer vote bypasses leader stickiness, which would otherwise ignore it.
        Assert.Contains(net.Delivered, m => m.Type == MessageType.Vote && m.Context == Message.TransferContext);
    }

    [Fact]
    public void Thesis_3_10_a_lagging_transferee_is_caught_up_first()
    {
        var net = TestNetwork.Of(3);
        var leader = net.Elect(1);
        net.Isolate(3);
        var index = net.Propose(1, "x");
        net.Heal();
        leader.TransferLeadership(3);
        var first = Drain(leader);
        Assert.DoesNotContain(first, m => m.Type == MessageType.TimeoutNow);
        net.Deliver(first);
        net.Stabilize();
        Assert.Equal(RaftRole.Leader, net[3].Role);
        Assert.True(net[3].LastIndex > index);
    }

    [Fact]
    public void Thesis_3_10_proposals_are_refused_while_a_transfer_is_under_way()
    {
        var net = TestNetwork.Of(3);
        var leader = net.Elect(1);
        net.Isolate(3);
        leader.TransferLeadership(3);
        Assert.Equal(ProposeStatus.TransferInProgress, leader.Propose([1]).Status);
    }

    [Fact]
    public void Thesis_3_10_a_transfer_that_does_not_finish_within_an_election_timeout_is_abandoned()
    {
        var net = TestNetwork.Of(3);
        var leader = net.Elect(1);
        net.Isolate(3);
        leader.TransferLeadership(3);
        for (var i = 0; i < 10; i++)
        {
            leader.Tick();
            net.Stabilize();
        }

        Assert.Equal(RaftRole.Leader, leader.Role);
        Assert.Equal(RaftNode.None, leader.GetStatus().LeadTransferee);
        Assert.True(leader.Propose([1]).IsAccepted);
    }

    [Fact]
    public void Thesis_3_10_only_a_voter_can_receive_leadership_and_only_a_leader_can_give_it()
    {
        var net = TestNetwork.Of(3);
        var leader = net.Elect(1);
        Assert.Equal(ProposeStatus.InvalidTarget, leader.TransferLeadership(9));
        Assert.Equal(ProposeStatus.NotLeader, net[2].TransferLeadership(3));
        Assert.Equal(ProposeStatus.Accepted, leader.TransferLeadership(1));
        Assert.Equal(RaftRole.Leader, leader.Role);
    }
}

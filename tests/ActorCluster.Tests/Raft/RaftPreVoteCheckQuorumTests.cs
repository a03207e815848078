using ActorCluster.Grains.Raft;
using static ActorCluster.Tests.Raft.RaftHarness;

namespace ActorCluster.Tests.Raft;

/// <summary>Pre-vote (thesis §9.6), check-quorum and leader stickiness (thesis §6.2, §4.2.3).</summary>
public sealed class RaftPreVoteCheckQuorumTests
{
    private static readonly ulong[] Three = [1, 2, 3];

    [Fact]
    public void Thesis_9_6_a_pre_candidate_asks_for_the_next_term_without_taking_it()
    {
        var node = NewNode(1, Three, preVote: true);
        TickUntil(node, () => node.Role == RaftRole.PreCandidate, maxTicks: 30);
        Assert.Equal(0UL, node.Term);
        Assert.Equal(RaftNode.None, node.GetStatus().Vote);
        var requests = Drain(node);
        Assert.All(requests, m =>
        {
            Assert.Equal(MessageType.PreVote, m.Type);
            Assert.Equal(1UL, m.Term);
        });
    }

    [Fact]
    public void Thesis_9_6_a_pre_vote_changes_neither_the_voters_term_nor_its_vote()
    {
        var voter = NewNode(2, Three, preVote: true);
        voter.Step(Msg(MessageType.PreVote, from: 1, to: 2, term: 1));
        var reply = Assert.Single(Drain(voter));
        Assert.Equal(MessageType.PreVoteResponse, reply.Type);
        Assert.False(reply.Reject);
        Assert.Equal(1UL, reply.Term);
        Assert.Equal(0UL, voter.Term);
        Assert.Equal(RaftNode.None, voter.GetStatus().Vote);
    }

    [Fact]
    public void Thesis_9_6_a_pre_candidate_that_wins_the_pre_vote_runs_a_real_election()
    {
        var net = TestNetwork.Of(3, preVote: true);
        net.Elect(1);
        Assert.Equal(1UL, net[1].Term);
        Assert.Contains(net.Delivered, m => m.Type == MessageType.PreVote);
        Assert.Contains(net.Delivered, m => m.Type == MessageType.Vote);
    }

    [Fact]
    public void Thesis_9_6_a_partitioned_node_does_not_inflate_its_term_and_disrupt_the_leader_on_return()
    {
        var net = TestNetwork.Of(3, preVote: true);
        net.Elect(1);
        var term = net[1].Term;
        net.Isolate(3);
        for (var i = 0; i < 100; i++)
        {
            net[3].Tick();
            net.Stabilize();
        }

        // Without pre-vote node 3 would be in term ~10 by now.
        Assert.Equal(term, net[3].Term);
        net.Heal();
        net.TickAll(3);
        Assert.Equal(RaftRole.Leader, net[1].Role);
        Assert.Equal(term, net[1].Term);
        Assert.Equal(1UL, net[3].Leader);
    }

    [Fact]
    public void Thesis_9_6_without_pre_vote_a_returning_node_does_disrupt_the_leader()
    {
        // The contrast case: this is what pre-vote exists for.
        var net = TestNetwork.Of(3);
        net.Elect(1);
        var term = net[1].Term;
        net.Isolate(3);
        for (var i = 0; i < 100; i++)
        {
            net[3].Tick();
            net.Stabilize();
        }

        Assert.True(net[3].Term > term + 3);
        net.Heal();
        net.TickAll(1);
        Assert.True(net[1].Term > term);
    }

    [Fact]
    public void Thesis_9_6_a_pre_vote_is_refused_to_a_candidate_with_a_stale_log()
    {
        var voter = WithLog(2, Three, term: 2, entryTerms: [1, 2], preVote: true);
        Drain(voter);
        voter.Step(Msg(MessageType.PreVote, from: 1, to: 2, term: 3, index: 1, logTerm: 1));
        var reply = Assert.Single(Drain(voter));
        Assert.True(reply.Reject);
        Assert.Equal(2UL, reply.Term);
    }

    [Fact]
    public void CheckQuorum_a_leader_that_hears_from_no_quorum_for_an_election_timeout_steps_down()
    {
        var net = TestNetwork.Of(3, checkQuorum: true);
        var leader = net.Elect(1);
        net.Isolate(1);
        for (var i = 0; i < 2 * 10 && leader.Role == RaftRole.Leader; i++)
        {
            leader.Tick();
            net.Stabilize();
        }

        Assert.Equal(RaftRole.Follower, leader.Role);
        Assert.Equal(RaftNode.None, leader.Leader);
        // Operators alert on this: the step-down is counted, once.
        Assert.Equal(1, leader.QuorumLosses);
    }

    [Fact]
    public void A_leader_reports_how_far_its_slowest_voter_is_behind()
    {
        var net = TestNetwork.Of(3, checkQuorum: true);
        var leader = net.Elect(1);
        Assert.Equal(0UL, leader.VoterLag());
        Assert.Equal(0UL, net[2].VoterLag());
        net.Isolate(3);
        for (var i = 0; i < 5; i++)
        {
            Assert.Equal(ProposeStatus.Accepted, leader.Propose([1]).Status);
        }

        net.Stabilize();
        // Node 2 stored all five; node 3 none: the lag is the slowest voter's, not the quorum's.
        Assert.Equal(5UL, leader.VoterLag());
        Assert.Equal(0, leader.QuorumLosses);
    }

    [Fact]
    public void CheckQuorum_a_leader_with_a_live_quorum_stays_leader()
    {
        var net = TestNetwork.Of(3, checkQuorum: true);
        var leader = net.Elect(1);
        net.Isolate(3);
        for (var i = 0; i < 50; i++)
        {
            leader.Tick();
            net.Stabilize();
        }

        Assert.Equal(RaftRole.Leader, leader.Role);
    }

    [Fact]
    public void CheckQuorum_followers_in_a_leader_lease_ignore_vote_requests()
    {
        var net = TestNetwork.Of(3, checkQuorum: true);
        net.Elect(1);
        // Node 2 heard from the leader just now: a campaign by node 3 is ignored, not answered.
        net[2].Step(Msg(MessageType.Vote, from: 3, to: 2, term: 5, index: 100, logTerm: 100));
        Assert.Empty(Drain(net[2]));
        Assert.Equal(1UL, net[2].Term);
    }

    [Fact]
    public void CheckQuorum_a_stale_leader_learns_the_newer_term_from_an_append_answer()
    {
        var net = TestNetwork.Of(3, preVote: true, checkQuorum: true);
        net.Elect(1);
        net.Isolate(1);
        // Let the majority elect a new leader while node 1 (not ticking) still believes it leads.
        for (var i = 0; i < 60 && net[2].Role != RaftRole.Leader && net[3].Role != RaftRole.Leader; i++)
        {
            net[2].Tick();
            net[3].Tick();
            net.Stabilize();
        }

        var newLeader = net[2].Role == RaftRole.Leader ? net[2] : net[3];
        Assert.Equal(RaftRole.Leader, newLeader.Role);
        Assert.Equal(RaftRole.Leader, net[1].Role);
        net.Heal();
        net[1].Tick();
        net.Stabilize();
        Assert.Equal(RaftRole.Follower, net[1].Role);
        Assert.Equal(newLeader.Term, net[1].Term);
    }
}

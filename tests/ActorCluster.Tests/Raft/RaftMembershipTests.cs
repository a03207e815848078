using ActorCluster.Grains.Raft;
using static ActorCluster.Tests.Raft.RaftHarness;

namespace ActorCluster.Tests.Raft;

/// <summary>Raft paper §6 and thesis §4: single-server membership changes, learners, removing the leader.</summary>
public sealed class RaftMembershipTests
{
    [Fact]
    public void S6_a_learner_receives_the_log_but_never_votes_counts_or_campaigns()
    {
        var net = TestNetwork.Of(3);
        var leader = net.Elect(1);
        var joiner = RaftNode.Start(Options(4), RaftStorageState.Empty);
        net.Nodes[4] = joiner;
        Assert.True(leader.ProposeConfChange(new ConfChange(ConfChangeType.AddLearner, 4)).IsAccepted);
        net.Stabilize();
        var index = net.Propose(1, "after-join");
        Assert.Equal(index, joiner.LastIndex);
        Assert.Equal(index, joiner.CommitIndex);
        Assert.True(joiner.Config.IsLearner(4));
        Assert.Equal(3, leader.Config.Voters.Count);

        // A learner does not count toward a quorum: with two voters down nothing commits.
        net.Isolate(2);
        net.Isolate(3);
        var stuck = leader.Propose([1]).LastIndex;
        net.Stabilize();
        Assert.True(leader.CommitIndex < stuck);

        // And it never campaigns, however long it waits.
        for (var i = 0; i < 100; i++)
        {
            joiner.Tick();
        }

        Assert.Equal(RaftRole.Follower, joiner.Role);
    }

    [Fact]
    public void S6_a_caught_up_learner_is_promoted_and_then_counts_toward_the_quorum()
    {
        var net = TestNetwork.Of(3);
        var leader = net.Elect(1);
        net.Nodes[4] = RaftNode.Start(Options(4), RaftStorageState.Empty);
        leader.ProposeConfChange(new ConfChange(ConfChangeType.AddLearner, 4));
        net.Stabilize();
        Assert.True(leader.ProposeConfChange(new ConfChange(ConfChangeType.AddVoter, 4)).IsAccepted);
        net.Stabilize();
        Assert.Equal([1UL, 2UL, 3UL, 4UL], leader.Config.Voters);
        Assert.Empty(leader.Config.Learners);

        // Four voters: quorum three. Leader plus the new voter plus one more commit.
        net.Isolate(3);
        var index = net.Propose(1, "x");
        Assert.Equal(index, leader.CommitIndex);
        net.Isolate(2);
        var stuck = leader.Propose([2]).LastIndex;
        net.Stabilize();
        Assert.True(leader.CommitIndex < stuck);
    }

    [Fact]
    public void S6_a_learner_that_has_not_caught_up_is_not_promoted()
    {
        var net = TestNetwork.Of(3);
        var leader = net.Elect(1);
        net.Nodes[4] = RaftNode.Start(Options(4), RaftStorageState.Empty);
        net.Isolate(4);
        leader.ProposeConfChange(new ConfChange(ConfChangeType.AddLearner, 4));
        net.Stabilize();
        var result = leader.ProposeConfChange(new ConfChange(ConfChangeType.AddVoter, 4));
        Assert.Equal(ProposeStatus.LearnerNotCaughtUp, result.Status);
        Assert.True(leader.Config.IsLearner(4));
    }

    [Fact]
    public void S6_only_one_change_may_be_uncommitted_at_a_time()
    {
        var net = TestNetwork.Of(3);
        var leader = net.Elect(1);
        net.Isolate(2);
        net.Isolate(3);
        Assert.True(leader.ProposeConfChange(new ConfChange(ConfChangeType.AddLearner, 4)).IsAccepted);
        Assert.Equal(ProposeStatus.ConfChangePending, leader.ProposeConfChange(new ConfChange(ConfChangeType.AddLearner, 5)).Status);
        Assert.Equal(ProposeStatus.ConfChangePending, leader.ProposeConfChange(new ConfChange(ConfChangeType.RemoveNode, 3)).Status);
    }

    [Fact]
    public void Thesis_4_1_no_change_before_the_leader_commits_an_entry_of_its_term()
    {
        var net = TestNetwork.Of(3);
        net.Isolate(1);
        // Node 1 wins with votes stepped in by hand, but its empty entry cannot commit.
        var leader = net[1];
        TickUntil(leader, () => leader.Role == RaftRole.Candidate);
        leader.Step(Msg(MessageType.VoteResponse, 2, 1, leader.Term));
        Assert.Equal(RaftRole.Leader, leader.Role);
        Drain(leader);
        Assert.Equal(ProposeStatus.ConfChangePending, leader.ProposeConfChange(new ConfChange(ConfChangeType.AddLearner, 4)).Status);
    }

    [Theory]
    [InlineData(ConfChangeType.AddLearner, 2UL)] // already a voter
    [InlineData(ConfChangeType.AddVoter, 9UL)] // must join as a learner first
    [InlineData(ConfChangeType.AddVoter, 2UL)] // already a voter
    [InlineData(ConfChangeType.RemoveNode, 9UL)] // not a member
    [InlineData(ConfChangeType.AddLearner, 0UL)] // the reserved id
    public void S6_a_change_that_does_not_fit_the_configuration_is_refused_and_changes_nothing(ConfChangeType type, ulong node)
    {
        var net = TestNetwork.Of(3);
        var leader = net.Elect(1);
        var before = leader.LastIndex;
        Assert.Equal(ProposeStatus.InvalidConfChange, leader.ProposeConfChange(new ConfChange(type, node)).Status);
        Assert.Equal(before, leader.LastIndex);
        Assert.Equal(ClusterConfig.OfVoters(1, 2, 3), leader.Config);
    }

    [Fact]
    public void S6_the_last_voter_cannot_be_removed()
    {
        var net = new TestNetwork(NewNode(1, [1]));
        var leader = net.Elect(1);
        Assert.Equal(ProposeStatus.InvalidConfChange, leader.ProposeConfChange(new ConfChange(ConfChangeType.RemoveNode, 1)).Status);
    }

    [Fact]
    public void S6_a_removed_voter_no_longer_counts_and_the_quorum_shrinks()
    {
        var net = TestNetwork.Of(3);
        var leader = net.Elect(1);
        leader.ProposeConfChange(new ConfChange(ConfChangeType.RemoveNode, 3));
        net.Stabilize();
        Assert.Equal([1UL, 2UL], leader.Config.Voters);
        net.Isolate(3);
        var sentBefore = net.Sent.Count;
        var index = net.Propose(1, "two voters");
        Assert.Equal(index, leader.CommitIndex);
        // The leader no longer sends anything to the removed node (what the cut link would have dropped).
        Assert.Contains(net.Sent.Skip(sentBefore), m => m.From == 1 && m.To == 2);
        Assert.DoesNotContain(net.Sent.Skip(sentBefore), m => m.From == 1 && m.To == 3);
    }

    [Fact]
    public void A_removed_id_is_never_used_again()
    {
        var net = TestNetwork.Of(3);
        var leader = net.Elect(1);
        leader.ProposeConfChange(new ConfChange(ConfChangeType.RemoveNode, 3));
        net.Stabilize();
        Assert.True(leader.Config.IsRemoved(3));
        Assert.Equal(ProposeStatus.InvalidConfChange, leader.ProposeConfChange(new ConfChange(ConfChangeType.AddLearner, 3)).Status);
        Assert.True(leader.ProposeConfChange(new ConfChange(ConfChangeType.AddLearner, 4)).IsAccepted);
    }

    [Fact]
    public void A_removed_member_that_never_learned_of_it_cannot_disrupt_the_group()
    {
        var net = TestNetwork.Of(3);
        var leader = net.Elect(1);
        net.Isolate(3);
        leader.ProposeConfChange(new ConfChange(ConfChangeType.RemoveNode, 3));
        net.Stabilize();
        Assert.Equal([1UL, 2UL], leader.Config.Voters);
        var term = leader.Term;

        // Node 3 still believes it is a voter: once the network heals it times out and campaigns.
        net.Heal();
        for (var i = 0; i < 60; i++)
        {
            net[3].Tick();
            net.Stabilize();
        }

        // Its campaigns reached both members and were dropped: nothing changed.
        Assert.Contains(net.Delivered, m => m.From == 3 && m.To == 1 && m.Type is MessageType.Vote or MessageType.PreVote);
        Assert.Equal(RaftRole.Leader, leader.Role);
        Assert.Equal(term, leader.Term);
        Assert.Equal(term, net[2].Term);
        net.Propose(1, "still leading");
    }

    [Fact]
    public void Thesis_4_2_2_a_removed_leader_steps_down_once_the_change_commits_and_hands_over()
    {
        var net = TestNetwork.Of(3);
        var leader = net.Elect(1);
        var result = leader.ProposeConfChange(new ConfChange(ConfChangeType.RemoveNode, 1));
        Assert.True(result.IsAccepted);
        // It keeps leading, without counting itself, until the change commits...
        Assert.Equal(RaftRole.Leader, leader.Role);
        net.Stabilize();
        // ...then steps down, and a successor takes over at once via TimeoutNow.
        Assert.Equal(RaftRole.Follower, leader.Role);
        var successor = net.Nodes.Values.Single(n => n.Role == RaftRole.Leader);
        Assert.NotEqual(1UL, successor.Id);
        Assert.Contains(net.Delivered, m => m.Type == MessageType.TimeoutNow && m.From == 1);
        Assert.Equal(ProposeStatus.NotLeader, leader.Propose([1]).Status);
        var index = net.Propose(successor.Id, "after");
        Assert.Equal(index, successor.CommitIndex);
    }

    [Fact]
    public void Thesis_4_1_an_uncommitted_change_that_is_overwritten_is_reverted()
    {
        var net = TestNetwork.Of(3);
        var old = net.Elect(1);
        net.Isolate(1);
        old.ProposeConfChange(new ConfChange(ConfChangeType.RemoveNode, 3));
        Drain(old);
        Assert.Equal([1UL, 2UL], old.Config.Voters);

        // The others elect a new leader that never saw the change; node 1 rejoins and is overwritten.
        for (var i = 0; i < 60 && net[2].Role != RaftRole.Leader && net[3].Role != RaftRole.Leader; i++)
        {
            net[2].Tick();
            net[3].Tick();
            net.Stabilize();
        }

        var leader = net[2].Role == RaftRole.Leader ? net[2] : net[3];
        net.Propose(leader.Id, "overwrite");
        net.Heal();
        net.TickAll(2);
        Assert.Equal(ClusterConfig.OfVoters(1, 2, 3), old.Config);
        Assert.Equal(leader.LastIndex, old.LastIndex);
    }

    [Fact]
    public void S6_membership_changes_are_delivered_to_the_application_as_committed_entries()
    {
        var net = TestNetwork.Of(3);
        var leader = net.Elect(1);
        net.Nodes[4] = RaftNode.Start(Options(4), RaftStorageState.Empty);
        leader.ProposeConfChange(new ConfChange(ConfChangeType.AddLearner, 4));
        net.Stabilize();
        foreach (var id in new ulong[] { 1, 2, 3, 4 })
        {
            Assert.Single(net.Applied[id], e => e.Type == EntryType.ConfChange);
        }

        var change = net.Applied[1].Single(e => e.Type == EntryType.ConfChange);
        var decoded = ConfChangeEntry.Decode(change.Data);
        Assert.Equal(new ConfChange(ConfChangeType.AddLearner, 4), decoded.Change);
        Assert.Equal(new ClusterConfig([1, 2, 3], [4]), decoded.Config);
    }
}
